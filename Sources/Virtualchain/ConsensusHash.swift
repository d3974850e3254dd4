@_exported import ConsensusHashing
import BitcoinWire
#if canImport(Glibc)
import Glibc
#endif

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

    /// `opcode ":" join(",", [len(s) ":" s ...])`, docs/virtualchain.md, section 4.
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

extension ConsensusHash {
    /// The ops hash of a block's accepted records (or of nothing).
    public static func opsHash(_ records: [ConsensusRecord]) -> String {
        opsHash(serialized: records.map(\.serialized))
    }
}

/// Consensus hashes by height from the first block, with the per-block computation. Hashes are
/// kept as 16-byte values; appending one costs the same at every height.
///
/// A machine's *initial* hashes (``StateMachine/initialConsensusHashes``, heights below the first
/// block) are known to the chain as the original's `get_initial_snapshots` are: a lookup by
/// height and the fork*-consistency window find them, but the skip list does not reach below the
/// first block (the original's `snapshot` stops at `get_first_block_id()`), so they never enter a
/// consensus hash.
public struct ConsensusChain: Sendable {
    public let firstBlock: Int
    public private(set) var digests: [ConsensusDigest] = []
    /// Hashes given for heights below `firstBlock`, by height.
    public let initialDigests: [Int: ConsensusDigest]

    public init(firstBlock: Int, digests: [ConsensusDigest] = [], initialDigests: [Int: ConsensusDigest] = [:]) {
        precondition(initialDigests.keys.allSatisfy { $0 < firstBlock }, "initial consensus hashes must lie below the first block")
        self.firstBlock = firstBlock
        self.digests = digests
        self.initialDigests = initialDigests
    }

    /// The newest hash.
    public var last: ConsensusDigest? { digests.last }

    /// The next height to hash.
    public var nextHeight: Int { firstBlock + digests.count }

    /// Our consensus hash at `height`: a block's from the first block on, an initial one below.
    public func digest(atHeight height: Int) -> ConsensusDigest? {
        let i = height - firstBlock
        if i < 0 { return initialDigests.isEmpty ? nil : initialDigests[height] }
        return i < digests.count ? digests[i] : nil
    }

    /// Computes and appends CH(nextHeight) for a block whose accepted records are `records`:
    /// returns the ops hash's bytes (in the order its hex shows them) and the new consensus hash.
    /// A block without records (most blocks) costs no allocation.
    @discardableResult
    public mutating func append(records: [ConsensusRecord]) -> (opsHash: Hash256, consensusHash: ConsensusDigest) {
        let opsHash = records.isEmpty ? ConsensusHash.emptyOpsHashBytes : ConsensusHash.opsHashBytes(serialized: records.map(\.serialized))
        return (opsHash, append(opsHash: opsHash))
    }

    /// Computes and appends CH(nextHeight) from the block's ops hash (its bytes in the order its
    /// hex shows them) and the skip list's hashes.
    @discardableResult
    public mutating func append(opsHash: Hash256) -> ConsensusDigest {
        let height = nextHeight
        let digest = withUnsafeTemporaryAllocation(of: ConsensusDigest.self, capacity: ConsensusHash.maxLeaves) { previous in
            var count = 0
            for skipped in ConsensusHash.SkipList(height: height, firstBlock: firstBlock) {
                previous[count] = digests[skipped - firstBlock]
                count += 1
            }
            return ConsensusHash.consensusDigest(opsHash: opsHash, previous: UnsafeBufferPointer(rebasing: previous[0..<count]))
        }
        digests.append(digest)
        return digest
    }

    public mutating func truncate(toHeight height: Int) {
        let keep = max(0, height - firstBlock + 1)
        if keep < digests.count { digests.removeLast(digests.count - keep) }
    }

    /// Fork*-consistency: whether `hash` (16 raw bytes) is one of ours for the `window` blocks
    /// before `height` (initial hashes included, as the original's `get_valid_consensus_hashes`).
    public func isRecent(_ hash: [UInt8], before height: Int, window: Int) -> Bool {
        guard hash.count == ConsensusHash.consensusHashSize, window >= 1 else { return false }
        let wanted = hash.withUnsafeBytes { ConsensusDigest(loading: $0.baseAddress!) }
        for h in max(height - window, Int.min + 1)..<height where digest(atHeight: h) == wanted { return true }
        return false
    }
}
