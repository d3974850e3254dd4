import BitcoinWire

// The consensus-hash function of docs/virtualchain.md, section 4, on hex strings (its definition) and on bytes
// (what a replay computes per block). Depends on hashing only: a light client's proof verifier
// links this and nothing of the engine.

/// The consensus-hash algorithm of the original virtualchain (docs/virtualchain.md, section 4).
public enum ConsensusHash {
    /// Merkle root over hex strings: leaves byte-reversed, pairs double-SHA-256'd, odd rows
    /// completed with their last entry, the root reversed back. Entries may differ in length
    /// (16-byte consensus hashes mix with 32-byte ops hashes).
    public static func merkleRoot(hex leaves: [String]) -> String {
        Hex.encode(merkleRoot(leaves: leaves.map { [UInt8](hex: $0) ?? [] }))
    }

    /// ``merkleRoot(hex:)`` on the leaves' bytes (in the order their hex shows them): each leaf
    /// byte-reversed, pairs double-SHA-256'd, odd rows completed with their last entry, the root
    /// reversed back.
    static func merkleRoot(leaves: [[UInt8]]) -> [UInt8] {
        precondition(!leaves.isEmpty, "merkle root of nothing")
        var row = leaves.map { [UInt8]($0.reversed()) }
        while row.count > 1 {
            if row.count % 2 == 1 { row.append(row[row.count - 1]) }
            row = (0..<(row.count / 2)).map { Hashes.dsha256(row[2 * $0] + row[2 * $0 + 1]).bytes }
        }
        return row[0].reversed()
    }

    /// `hex(dsha(b))`.
    public static func dshaHex(_ bytes: [UInt8]) -> String { Hex.encode(Hashes.dsha256(bytes).bytes) }

    /// The ops hash of a block's accepted records, given serialized (or of nothing), as hex.
    public static func opsHash(serialized records: [[UInt8]]) -> String { opsHashBytes(serialized: records).internalHex }

    /// Heights whose consensus hashes enter CH(height): height-1, height-3, height-7, ...,
    /// height-(2^i - 1), while at or above the first block (never below it: the original's loop
    /// stops at `get_first_block_id()`). The one definition of the skip list.
    public struct SkipList: Sequence, IteratorProtocol {
        let height: Int, firstBlock: Int
        var i = 1
        public init(height: Int, firstBlock: Int) {
            self.height = height
            self.firstBlock = firstBlock
        }
        public mutating func next() -> Int? {
            guard i < Int.bitWidth - 1 else { return nil }
            let skipped = height - ((1 << i) - 1)
            guard skipped >= firstBlock else { return nil }
            i += 1
            return skipped
        }
    }

    /// The skip list's heights as an array (see ``SkipList``).
    public static func skipListHeights(height: Int, firstBlock: Int) -> [Int] { Array(SkipList(height: height, firstBlock: firstBlock)) }

    /// The ops hash of a block's accepted records, given serialized, as bytes in the order its hex
    /// shows them: ``merkleRoot(hex:)`` of the records' `hex(dsha(r))` sorted (of `hex(dsha(""))`
    /// alone for a block without records), computed on bytes. Hex strings of one length sort as
    /// their bytes do, so the leaves sort as bytes.
    public static func opsHashBytes(serialized records: [[UInt8]]) -> Hash256 {
        let leaves = (records.isEmpty ? [[]] : records).map { Hashes.dsha256($0).bytes }
        return Hash256(bytes: merkleRoot(leaves: leaves.sorted { $0.lexicographicallyPrecedes($1) }))
    }

    /// CH(k) from the ops hash of block k and the consensus hashes of the skip-list heights.
    public static func consensusHash(opsHash: String, previous: [String]) -> String {
        let root = merkleRoot(hex: (previous + [opsHash]).sorted())
        return Hex.encode(Hashes.hash160([UInt8](hex: root)!).prefix(16))
    }
}

/// A 16-byte consensus hash, held as bytes (its hex form only where it is shown or stored).
public struct ConsensusDigest: Hashable, Sendable, CustomStringConvertible {
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
    public var description: String { hex }
}

extension ConsensusHash {
    /// Bytes of a consensus hash (the first 16 bytes of a hash160).
    public static let consensusHashSize = 16

    /// The ops hash of a block without accepted records (the same for every such block).
    public static let emptyOpsHashBytes = opsHashBytes(serialized: [])
    public static let emptyOpsHash = emptyOpsHashBytes.internalHex

    /// Most skip-list entries a height can have (`height - (2^i - 1)` for i up to 62), plus one.
    public static let maxLeaves = 64

    /// CH(k) computed on bytes, without strings or heap allocations: the same function as
    /// `consensusHash(opsHash:previous:)` (leaves sorted as their hex strings sort, each leaf
    /// byte-reversed, pairs double-SHA-256'd, the root reversed back, hash160, first 16 bytes).
    ///
    /// It runs once per block on the replay thread, so its glue is kept to sorting one word per
    /// leaf and writing each leaf once; the hashing (about 53 compressions for a skip list of 20)
    /// is the rest.
    public static func consensusDigest(opsHash: Hash256, previous: UnsafeBufferPointer<ConsensusDigest>) -> ConsensusDigest {
        precondition(previous.count < maxLeaves, "skip list longer than any height allows")
        let leafCount = previous.count + 1, opsLeaf = previous.count
        // A leaf's first 8 bytes read big-endian order the leaves as their hex strings sort,
        // unless two leaves share them. Sort keys: those bytes, less their low bits, which hold
        // the leaf's index instead.
        let indexBits = 6, indexMask: UInt64 = (1 << indexBits) - 1
        assert(maxLeaves <= 1 << indexBits, "a leaf index must fit a sort key's low bits")
        func firstWord(_ leaf: Int) -> UInt64 {
            UInt64(bigEndian: leaf == opsLeaf ? opsHash.a : previous[leaf].bytes.0)
        }
        // Whole leaves compared as bytes (for leaves whose keys tie): their big-endian words.
        func word(_ leaf: Int, _ i: Int) -> UInt64 {
            if leaf != opsLeaf { return UInt64(bigEndian: i == 0 ? previous[leaf].bytes.0 : previous[leaf].bytes.1) }
            switch i {
            case 0: return UInt64(bigEndian: opsHash.a)
            case 1: return UInt64(bigEndian: opsHash.b)
            case 2: return UInt64(bigEndian: opsHash.c)
            default: return UInt64(bigEndian: opsHash.d)
            }
        }
        func less(_ x: Int, _ y: Int) -> Bool {
            let wordsX = x == opsLeaf ? 4 : 2, wordsY = y == opsLeaf ? 4 : 2
            for i in 0..<min(wordsX, wordsY) where word(x, i) != word(y, i) { return word(x, i) < word(y, i) }
            return wordsX < wordsY  // a prefix sorts first
        }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: maxLeaves) { keys in
            for leaf in 0..<leafCount { keys[leaf] = (firstWord(leaf) & ~indexMask) | UInt64(leaf) }
            // Insertion sort: a few dozen keys at most.
            for i in 1..<leafCount {
                let key = keys[i]
                var j = i
                while j > 0 && key < keys[j - 1] { keys[j] = keys[j - 1]; j -= 1 }
                keys[j] = key
            }
            // Leaves whose keys tie (equal but for the index) are put in order by their bytes.
            var runStart = 0
            while runStart < leafCount {
                var runEnd = runStart + 1
                while runEnd < leafCount && keys[runEnd] >> indexBits == keys[runStart] >> indexBits { runEnd += 1 }
                if runEnd - runStart > 1 {
                    for i in (runStart + 1)..<runEnd {
                        let key = keys[i]
                        var j = i
                        while j > runStart && less(Int(key & indexMask), Int(keys[j - 1] & indexMask)) { keys[j] = keys[j - 1]; j -= 1 }
                        keys[j] = key
                    }
                }
                runStart = runEnd
            }
            if leafCount == 1 { return hash160Prefix(ofRoot: opsHash) }  // a tree of one leaf is that leaf
            // The first row of nodes: each pair of leaves (the last leaf twice if their number is
            // odd), byte-reversed as the original hashed its hex-decoded, reversed strings, side
            // by side in a message of 32 or 48 bytes (one compression each round).
            let nodeCount = (leafCount + 1) / 2
            return withUnsafeTemporaryAllocation(of: Hash256.self, capacity: maxLeaves) { nodes in
                withUnsafeTemporaryAllocation(byteCount: 64 * nodeCount, alignment: 16) { messages in
                    let base = messages.baseAddress!
                    // Writes leaf `leaf` reversed at `offset`; returns its length.
                    func putReversed(_ leaf: Int, at offset: Int) -> Int {
                        if leaf == opsLeaf {
                            base.storeBytes(of: opsHash.d.byteSwapped, toByteOffset: offset, as: UInt64.self)
                            base.storeBytes(of: opsHash.c.byteSwapped, toByteOffset: offset + 8, as: UInt64.self)
                            base.storeBytes(of: opsHash.b.byteSwapped, toByteOffset: offset + 16, as: UInt64.self)
                            base.storeBytes(of: opsHash.a.byteSwapped, toByteOffset: offset + 24, as: UInt64.self)
                            return 32
                        }
                        let digest = previous[leaf].bytes
                        base.storeBytes(of: digest.1.byteSwapped, toByteOffset: offset, as: UInt64.self)
                        base.storeBytes(of: digest.0.byteSwapped, toByteOffset: offset + 8, as: UInt64.self)
                        return 16
                    }
                    // Writes node `node`'s message; returns its length.
                    func putMessage(_ node: Int) -> Int {
                        let left = Int(keys[2 * node] & indexMask)
                        let right = 2 * node + 1 < leafCount ? Int(keys[2 * node + 1] & indexMask) : left
                        let length = putReversed(left, at: 64 * node)
                        return length + putReversed(right, at: 64 * node + length)
                    }
                    var j = 0
                    while j + 1 < nodeCount {
                        let first = putMessage(j), second = putMessage(j + 1)
                        (nodes[j], nodes[j + 1]) = Hashes.dsha256Pair(UnsafeRawBufferPointer(start: base + 64 * j, count: first),
                                                                      UnsafeRawBufferPointer(start: base + 64 * (j + 1), count: second))
                        j += 2
                    }
                    if j < nodeCount { nodes[j] = Hashes.dsha256(UnsafeRawBufferPointer(start: base + 64 * j, count: putMessage(j))) }
                }
                // The rows above: 32-byte nodes side by side are already the 64-byte messages.
                var count = nodeCount
                let raw = UnsafeMutableRawPointer(nodes.baseAddress!)
                while count > 1 {
                    if count % 2 == 1 { nodes[count] = nodes[count - 1]; count += 1 }
                    let parents = count / 2
                    var j = 0
                    // Parent j overwrites node j, whose children (2j, 2j + 1) were read before.
                    while j + 1 < parents {
                        (nodes[j], nodes[j + 1]) = Hashes.dsha256Pair64(raw + 64 * j, raw + 64 * (j + 1))
                        j += 2
                    }
                    if j < parents { nodes[j] = Hashes.dsha256(UnsafeRawBufferPointer(start: raw + 64 * j, count: 64)) }
                    count = parents
                }
                let root = nodes[0]
                return hash160Prefix(ofRoot: Hash256(a: root.d.byteSwapped, b: root.c.byteSwapped, c: root.b.byteSwapped, d: root.a.byteSwapped))
            }
        }
    }

    /// The first 16 bytes of hash160 of a merkle root's 32 bytes (as its hex shows them).
    private static func hash160Prefix(ofRoot root: Hash256) -> ConsensusDigest {
        var inner = root.withUnsafeBytes { Hashes.sha256($0) }
        return Swift.withUnsafeBytes(of: &inner) { sha in
            withUnsafeTemporaryAllocation(byteCount: 20, alignment: 8) { out in
                Hashes.ripemd160(sha, into: out)
                return ConsensusDigest(loading: out.baseAddress!)
            }
        }
    }
}

