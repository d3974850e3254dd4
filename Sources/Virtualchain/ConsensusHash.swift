import BitcoinWire

/// One field value of a consensus record, with the canonical string the original virtualchain
/// hashed (Python's `str()` of the value).
public enum ConsensusValue: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case integer(Int64)
    case boolean(Bool)
    case text(String)
    case bytes([UInt8])
    /// A missing value (Python `None`): the empty string.
    case none

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }

    /// The canonical bytes: decimal integers, `True`/`False`, strings as their UTF-8 bytes.
    public var canonicalBytes: [UInt8] {
        switch self {
        case let .integer(n): return Array(String(n).utf8)
        case let .boolean(b): return Array((b ? "True" : "False").utf8)
        case let .text(s): return Array(s.utf8)
        case let .bytes(b): return b
        case .none: return []
        }
    }
}

/// What an accepted operation contributes to the consensus hash: its opcode and ordered fields.
public struct ConsensusRecord: Hashable, Sendable {
    public var opcode: UInt8
    public var fields: [ConsensusValue]

    public init(opcode: UInt8, fields: [ConsensusValue]) {
        self.opcode = opcode
        self.fields = fields
    }

    /// `opcode ":" join(",", [len(s) ":" s ...])`, spec section 4.
    public var serialized: [UInt8] {
        var out: [UInt8] = [opcode, UInt8(ascii: ":")]
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            let bytes = field.canonicalBytes
            out.append(contentsOf: String(bytes.count).utf8)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: bytes)
        }
        return out
    }

    public var serializedString: String { String(decoding: serialized, as: UTF8.self) }
}

/// The consensus-hash algorithm of the original virtualchain (spec section 4).
public enum ConsensusHash {
    /// Merkle root over hex strings: leaves byte-reversed, pairs double-SHA-256'd, odd rows
    /// completed with their last entry, the root reversed back. Entries may differ in length
    /// (16-byte consensus hashes mix with 32-byte ops hashes).
    public static func merkleRoot(hex leaves: [String]) -> String {
        precondition(!leaves.isEmpty, "merkle root of nothing")
        var row: [[UInt8]] = leaves.map { Array(([UInt8](hex: $0) ?? []).reversed()) }
        while row.count > 1 {
            if row.count % 2 == 1 { row.append(row[row.count - 1]) }
            var next: [[UInt8]] = []
            next.reserveCapacity(row.count / 2)
            for j in 0..<(row.count / 2) {
                next.append(Hashes.dsha256(row[2 * j] + row[2 * j + 1]).bytes)
            }
            row = next
        }
        return Hex.encode(row[0].reversed())
    }

    /// `hex(dsha(b))`.
    static func dshaHex(_ bytes: [UInt8]) -> String { Hex.encode(Hashes.dsha256(bytes).bytes) }

    /// The ops hash of a block's accepted records (or of nothing).
    public static func opsHash(_ records: [ConsensusRecord]) -> String {
        if records.isEmpty { return merkleRoot(hex: [dshaHex([])]) }
        return merkleRoot(hex: records.map { dshaHex($0.serialized) }.sorted())
    }

    /// Heights whose consensus hashes enter CH(height): height-1, height-3, height-7, ... ≥ first block.
    public static func skipListHeights(height: Int, firstBlock: Int) -> [Int] {
        var heights: [Int] = []
        var i = 1
        while height - ((1 << i) - 1) >= firstBlock {
            heights.append(height - ((1 << i) - 1))
            i += 1
        }
        return heights
    }

    /// CH(k) from the ops hash of block k and the consensus hashes of the skip-list heights.
    public static func consensusHash(opsHash: String, previous: [String]) -> String {
        let root = merkleRoot(hex: (previous + [opsHash]).sorted())
        return Hex.encode(Hashes.hash160([UInt8](hex: root)!).prefix(16))
    }
}

/// Consensus hashes by height from the first block, with the per-block computation.
public struct ConsensusChain: Sendable {
    public let firstBlock: Int
    public private(set) var hashes: [String] = []

    public init(firstBlock: Int, hashes: [String] = []) {
        self.firstBlock = firstBlock
        self.hashes = hashes
    }

    /// The next height to hash.
    public var nextHeight: Int { firstBlock + hashes.count }

    public func hash(atHeight height: Int) -> String? {
        let i = height - firstBlock
        return i >= 0 && i < hashes.count ? hashes[i] : nil
    }

    /// Computes and appends CH(nextHeight) for a block whose accepted records are `records`.
    @discardableResult
    public mutating func append(records: [ConsensusRecord]) -> (opsHash: String, consensusHash: String) {
        let opsHash = ConsensusHash.opsHash(records)
        let previous = ConsensusHash.skipListHeights(height: nextHeight, firstBlock: firstBlock).map { hashes[$0 - firstBlock] }
        let hash = ConsensusHash.consensusHash(opsHash: opsHash, previous: previous)
        hashes.append(hash)
        return (opsHash, hash)
    }

    public mutating func truncate(toHeight height: Int) {
        let keep = max(0, height - firstBlock + 1)
        if keep < hashes.count { hashes.removeLast(hashes.count - keep) }
    }

    /// Fork*-consistency: whether `hash` (16 raw bytes) is one of ours for the `window` blocks
    /// before `height`.
    public func isRecent(_ hash: [UInt8], before height: Int, window: Int) -> Bool {
        let text = Hex.encode(hash)
        let low = max(firstBlock, height - window)
        guard height - 1 >= low else { return false }
        for h in low...(height - 1) where self.hash(atHeight: h) == text { return true }
        return false
    }
}
