import Testing
@testable import BitcoinWire
@testable import ConsensusHashing

/// The byte-level consensus hash the engine uses per block equals the string-level definition
/// (which the original's vectors pin), for skip lists of every length and random hashes.
@Suite struct ConsensusDigestTests {
    @Test func bytesAndStringsAgree() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<30 {
            for _ in 0..<20 {
                var previous = (0..<length).map { _ in (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) } }
                // Leaves that share their first bytes (the sort's keys tie), or are equal.
                if length >= 3, Bool.random(using: &generator) {
                    let shared = Int.random(in: 7...16, using: &generator)
                    for k in 1..<Int.random(in: 2...length, using: &generator) {
                        previous[k].replaceSubrange(0..<shared, with: previous[0][0..<shared])
                        if shared == 7 { previous[k][7] = previous[0][7] ^ UInt8.random(in: 0...63, using: &generator) }
                    }
                }
                // Shared prefixes too: the sort must put a prefix first, as the hex strings sort.
                var ops = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if let first = previous.first, Bool.random(using: &generator) { ops.replaceSubrange(0..<16, with: first) }
                let expected = ConsensusHash.consensusHash(opsHash: Hex.encode(ops), previous: previous.map { Hex.encode($0) })
                let digests = previous.map { bytes in bytes.withUnsafeBytes { ConsensusDigest(loading: $0.baseAddress!) } }
                let actual = digests.withUnsafeBufferPointer { ConsensusHash.consensusDigest(opsHash: Hash256(bytes: ops), previous: $0) }
                #expect(actual.hex == expected, "skip list of \(length)")
            }
        }
    }
}

/// The ops hash computed on bytes (what a replay and `verify` compute per block) equals its
/// definition on hex strings: the merkle root of the records' `hex(dsha(r))`, sorted.
@Suite struct OpsHashTests {
    @Test func bytesAndTheHexDefinitionAgree() {
        var generator = SystemRandomNumberGenerator()
        for count in 0..<40 {
            var records = (0..<count).map { _ in (0..<Int.random(in: 0...90, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            if count > 2 { records[1] = records[0] }  // a record accepted twice in a block
            let leaves = records.isEmpty ? [ConsensusHash.dshaHex([])] : records.map { ConsensusHash.dshaHex($0) }.sorted()
            let definition = ConsensusHash.merkleRoot(hex: leaves)
            #expect(ConsensusHash.opsHashBytes(serialized: records).internalHex == definition, "\(count) records")
            #expect(ConsensusHash.opsHash(serialized: records.shuffled(using: &generator)) == definition, "order-free")
        }
    }
}

/// The skip list: heights `h - (2^i - 1)` from i = 1, never below the first block.
@Suite struct SkipListTests {
    @Test func heightsFollowTheDefinitionAndStopAtTheFirstBlock() {
        #expect(ConsensusHash.skipListHeights(height: 373_601, firstBlock: 373_601) == [])
        #expect(ConsensusHash.skipListHeights(height: 20, firstBlock: 1) == [19, 17, 13, 5])
        for firstBlock in [0, 1, 373_601] {
            for height in firstBlock..<(firstBlock + 3_000) {
                let expected = (1..<62).map { height - ((1 << $0) - 1) }.filter { $0 >= firstBlock }
                #expect(ConsensusHash.skipListHeights(height: height, firstBlock: firstBlock) == expected)
            }
        }
    }
}
