import BitcoinWire

// The consensus-hash function of spec section 4, on hex strings (its definition) and on bytes
// (what a replay computes per block). Depends on hashing only: a light client's proof verifier
// links this and nothing of the engine.

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
    public static func dshaHex(_ bytes: [UInt8]) -> String { Hex.encode(Hashes.dsha256(bytes).bytes) }

    /// The ops hash of a block's accepted records, given serialized (or of nothing).
    public static func opsHash(serialized records: [[UInt8]]) -> String {
        if records.isEmpty { return merkleRoot(hex: [dshaHex([])]) }
        return merkleRoot(hex: records.map { dshaHex($0) }.sorted())
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

/// A 16-byte consensus hash, held as bytes (its hex form only where it is shown or stored).
public struct ConsensusDigest: Hashable, Sendable {
    /// The 16 bytes, in the order the hex string shows them.
    public var bytes: (UInt64, UInt64)

    public init(loading pointer: UnsafeRawPointer) {
        bytes = (pointer.loadUnaligned(as: UInt64.self), pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    public init?(hex: String) {
        guard let raw = [UInt8](hex: hex), raw.count == ConsensusHash.consensusHashSize else { return nil }
        self = raw.withUnsafeBytes { ConsensusDigest(loading: $0.baseAddress!) }
    }

    public static func == (a: ConsensusDigest, b: ConsensusDigest) -> Bool { a.bytes == b.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes.0); hasher.combine(bytes.1) }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = bytes
        return try Swift.withUnsafeBytes(of: &copy, body)
    }

    public var hex: String { withUnsafeBytes { Hex.encode($0) } }
}

extension ConsensusHash {
    /// Bytes of a consensus hash (the first 16 bytes of a hash160).
    public static let consensusHashSize = 16

    /// The ops hash of a block without accepted records (the same for every such block).
    public static let emptyOpsHash = opsHash(serialized: [])
    public static let emptyOpsHashBytes = Hash256(bytes: [UInt8](hex: emptyOpsHash)!)

    /// Most skip-list entries a height can have (`height - (2^i - 1)` for i up to 62), plus one.
    public static let maxLeaves = 64

    /// CH(k) computed on bytes, without strings or heap allocations: the same function as
    /// `consensusHash(opsHash:previous:)` (leaves sorted as their hex strings sort, each leaf
    /// byte-reversed, pairs double-SHA-256'd, the root reversed back, hash160, first 16 bytes).
    public static func consensusDigest(opsHash: Hash256, previous: UnsafeBufferPointer<ConsensusDigest>) -> ConsensusDigest {
        precondition(previous.count < maxLeaves, "skip list longer than any height allows")
        // A leaf: 16 bytes (a consensus hash) or 32 (the ops hash, or a node), and its length.
        // Only these two lengths occur, so every leaf is whole 8-byte words.
        struct Leaf { var bytes: Hash256; var count: Int }
        return withUnsafeTemporaryAllocation(of: Leaf.self, capacity: maxLeaves + 1) { row in
            var n = 0
            func leaf(_ raw: UnsafeRawBufferPointer) -> Leaf {
                var value = Hash256.zero
                Swift.withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: raw) }
                return Leaf(bytes: value, count: raw.count)
            }
            for digest in previous { row[n] = digest.withUnsafeBytes { leaf($0) }; n += 1 }
            row[n] = Swift.withUnsafeBytes(of: opsHash) { leaf($0) }; n += 1
            // Sorted as the hex strings sort: bytewise, a prefix before what it prefixes. Leaves
            // are 16 bytes (consensus hashes) or 32 (the ops hash), so bytewise order is the order
            // of their big-endian 8-byte words (a call to memcmp per comparison cost more than
            // the comparison).
            func less(_ a: Leaf, _ b: Leaf) -> Bool {
                let common = min(a.count, b.count)
                func word(_ hash: Hash256, _ i: Int) -> UInt64 {
                    // The words as stored; read as big-endian numbers they order like the bytes.
                    switch i {
                    case 0: UInt64(bigEndian: hash.a)
                    case 1: UInt64(bigEndian: hash.b)
                    case 2: UInt64(bigEndian: hash.c)
                    default: UInt64(bigEndian: hash.d)
                    }
                }
                var i = 0
                while i < common / 8 {
                    let p = word(a.bytes, i), q = word(b.bytes, i)
                    if p != q { return p < q }
                    i += 1
                }
                return a.count < b.count
            }
            // Insertion sort: a few dozen leaves at most, and no closure-driven generic sort.
            for i in 1..<max(1, n) {
                let item = row[i]
                var j = i
                while j > 0 && less(item, row[j - 1]) { row[j] = row[j - 1]; j -= 1 }
                row[j] = item
            }
            // Leaves enter the tree byte-reversed (the original hashed hex-decoded, reversed
            // strings): for whole words, the words in reverse order, each byte-swapped.
            func reverse(_ leaf: inout Leaf) {
                let h = leaf.bytes
                leaf.bytes = leaf.count == 16 ? Hash256(a: h.b.byteSwapped, b: h.a.byteSwapped, c: 0, d: 0)
                    : Hash256(a: h.d.byteSwapped, b: h.c.byteSwapped, c: h.b.byteSwapped, d: h.a.byteSwapped)
            }
            for i in 0..<n { reverse(&row[i]) }
            // Each node: dSHA256 of the two children's bytes side by side (at most 64 bytes, so
            // both rounds are single compressions of padded blocks); nodes two at a time
            // (`Hashes.dsha256Pair`).
            // Whole words stored directly (a memmove call per child cost more).
            func put(_ leaf: Leaf, at offset: Int, in raw: UnsafeMutableRawBufferPointer) {
                let h = leaf.bytes
                raw.storeBytes(of: h.a, toByteOffset: offset, as: UInt64.self)
                raw.storeBytes(of: h.b, toByteOffset: offset + 8, as: UInt64.self)
                if leaf.count == 32 {
                    raw.storeBytes(of: h.c, toByteOffset: offset + 16, as: UInt64.self)
                    raw.storeBytes(of: h.d, toByteOffset: offset + 24, as: UInt64.self)
                }
            }
            var pairs = (Hash256.zero, Hash256.zero, Hash256.zero, Hash256.zero)
            while n > 1 {
                if n % 2 == 1 { row[n] = row[n - 1]; n += 1 }
                let nodes = n / 2
                Swift.withUnsafeMutableBytes(of: &pairs) { raw in
                    let first = UnsafeMutableRawBufferPointer(rebasing: raw[0..<64]), second = UnsafeMutableRawBufferPointer(rebasing: raw[64..<128])
                    var j = 0
                    while j < nodes {
                        // Children are read before node j (and j + 1) overwrite their slots.
                        let l0 = row[2 * j], r0 = row[2 * j + 1]
                        put(l0, at: 0, in: first)
                        put(r0, at: l0.count, in: first)
                        let one = UnsafeRawBufferPointer(rebasing: first[0..<(l0.count + r0.count)])
                        if j + 1 < nodes {
                            let l1 = row[2 * j + 2], r1 = row[2 * j + 3]
                            put(l1, at: 0, in: second)
                            put(r1, at: l1.count, in: second)
                            let (a, b) = Hashes.dsha256Pair(one, UnsafeRawBufferPointer(rebasing: second[0..<(l1.count + r1.count)]))
                            row[j] = Leaf(bytes: a, count: 32)
                            row[j + 1] = Leaf(bytes: b, count: 32)
                            j += 2
                        } else {
                            row[j] = Leaf(bytes: Hashes.dsha256(one), count: 32)
                            j += 1
                        }
                    }
                }
                n = nodes
            }
            var root = row[0]
            reverse(&root)
            var inner = Swift.withUnsafeBytes(of: root.bytes) { Hashes.sha256(UnsafeRawBufferPointer(rebasing: $0[0..<root.count])) }
            return Swift.withUnsafeBytes(of: &inner) { sha in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { out in
                    Hashes.ripemd160(sha, into: UnsafeMutableRawBufferPointer(out))
                    return ConsensusDigest(loading: out.baseAddress!)
                }
            }
        }
    }
}

