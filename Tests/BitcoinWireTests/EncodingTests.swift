import Testing
import CCrypto
@testable import BitcoinWire

@Suite struct CompactSizeTests {
    @Test(arguments: [
        (UInt64(0), "00"), (252, "fc"), (253, "fdfd00"), (0xffff, "fdffff"),
        (0x1_0000, "fe00000100"), (0x0200_0000, "fe00000002"),
    ])
    func roundTrip(value: UInt64, hex: String) throws {
        var writer = ByteWriter()
        writer.writeCompactSize(value)
        #expect(writer.bytes.hex == hex)
        let decoded = try writer.bytes.withUnsafeBytes { buffer in
            var cursor = ByteCursor(buffer)
            return try cursor.readCompactSize()
        }
        #expect(decoded == value)
    }

    @Test(arguments: ["fdfc00", "feffff0000", "ffffffffff00000000"])
    func rejectsNonCanonical(hex: String) {
        let bytes = [UInt8](hex: hex)!
        #expect(throws: WireError(.nonCanonicalCompactSize, at: 0)) {
            try bytes.withUnsafeBytes { buffer in
                var cursor = ByteCursor(buffer)
                _ = try cursor.readCompactSize()
            }
        }
    }

    @Test func rejectsAboveMaxSize() {
        let bytes = [UInt8](hex: "fe01000002")!  // 0x02000001
        #expect(throws: WireError(.compactSizeTooLarge(0x0200_0001), at: 0)) {
            try bytes.withUnsafeBytes { buffer in
                var cursor = ByteCursor(buffer)
                _ = try cursor.readCompactSize()
            }
        }
    }

    @Test func countLargerThanRemainingBytesIsRejectedBeforeAllocating() {
        // A transaction claiming 2^25 inputs in a 50-byte buffer.
        let bytes = [UInt8](hex: "01000000fe00000002")! + [UInt8](repeating: 0, count: 41)
        #expect(throws: WireError.self) {
            try bytes.withUnsafeBytes { buffer in
                var cursor = ByteCursor(buffer)
                _ = try Transaction(from: &cursor)
            }
        }
        let error = bytes.withUnsafeBytes { buffer -> WireError? in
            var cursor = ByteCursor(buffer)
            do throws(WireError) { _ = try Transaction(from: &cursor); return nil } catch { return error }
        }
        #expect(error?.offset == 4)
        if case .countExceedsBytes(what: "input", count: 0x0200_0000, remaining: 41)? = error?.kind {} else {
            Issue.record("unexpected error \(String(describing: error))")
        }
    }
}

@Suite struct VarIntTests {
    // Vectors from Bitcoin Core's serialize_tests (varint encodings).
    @Test(arguments: [
        (UInt64(0), "00"), (1, "01"), (127, "7f"), (128, "8000"), (255, "807f"), (256, "8100"),
        (16383, "fe7f"), (16384, "ff00"), (16511, "ff7f"), (65535, "82fe7f"), (1 << 32, "8efefeff00"),
    ])
    func coreVectors(value: UInt64, hex: String) throws {
        var writer = ByteWriter()
        writer.writeVarInt(value)
        #expect(writer.bytes.hex == hex)
        let decoded = try writer.bytes.withUnsafeBytes { buffer in
            var cursor = ByteCursor(buffer)
            return try cursor.readVarInt()
        }
        #expect(decoded == value)
    }

    /// With ten bytes or more after it a VARINT is read without a check per byte; without, byte
    /// by byte: both give the value and stop right after it, for every length up to 2^64 - 1.
    @Test func eachLengthReadsTheSameWithAndWithoutBytesAfterIt() throws {
        var random = SystemRandomNumberGenerator()
        var values: [UInt64] = [0, 127, 128, 16511, 16512, UInt64.max, UInt64.max - 1, 1 << 63]
        for bits in 1...64 { values.append(random.next() >> (64 - bits)) }
        for value in values {
            var writer = ByteWriter()
            writer.writeVarInt(value)
            let encoded = writer.bytes
            for padding in [0, 3, 16] {
                let bytes = encoded + [UInt8](repeating: 0x80, count: padding)
                let (decoded, position) = try bytes.withUnsafeBytes { buffer -> (UInt64, Int) in
                    var cursor = ByteCursor(buffer)
                    return (try cursor.readVarInt(), cursor.position)
                }
                #expect(decoded == value && position == encoded.count, "\(value) with \(padding) bytes after it")
            }
        }
    }

    @Test func overflowIsAnError() {
        let bytes = [UInt8](repeating: 0xff, count: 12) + [0x00]
        #expect(throws: WireError(.varIntOverflow, at: 0)) {
            try bytes.withUnsafeBytes { buffer in
                var cursor = ByteCursor(buffer)
                _ = try cursor.readVarInt()
            }
        }
    }
}

@Suite struct HashingTests {
    @Test func sha256AndHash160KnownAnswers() {
        #expect(Hashes.sha256(Array("abc".utf8)).internalHex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hashes.hash160([UInt8]()).hex == "b472a266d0bd89c13706a4132ccfb16f7c3b9fcb")
        #expect(Hashes.dsha256([UInt8]()).internalHex == "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456")
    }

    /// Short messages are padded and compressed by our own code (SHA-256 with the CPU's SHA
    /// extensions, RIPEMD-160 one block through `RIPEMD160_Transform`): each length, on both
    /// sides of every padding boundary, equals OpenSSL's one-shot functions.
    @Test func shortMessagesEqualOpenSSL() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...(Hashes.smallMessageLimit + 70) {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var sha = [UInt8](repeating: 0, count: 32), ripemd = [UInt8](repeating: 0, count: 20)
            _ = message.withUnsafeBufferPointer { SHA256($0.baseAddress, length, &sha) }
            _ = message.withUnsafeBufferPointer { RIPEMD160($0.baseAddress, length, &ripemd) }
            #expect(Hashes.sha256(message).bytes == sha, "SHA-256 of \(length) bytes")
            #expect(Hashes.ripemd160(message) == ripemd, "RIPEMD-160 of \(length) bytes")
            var out = [UInt8](repeating: 0, count: 20)
            message.withUnsafeBytes { m in out.withUnsafeMutableBytes { Hashes.ripemd160(m, into: $0) } }
            #expect(out == ripemd, "RIPEMD-160 into a buffer, \(length) bytes")
        }
        // Known answers (the RIPEMD-160 authors' test vectors).
        #expect(Hashes.ripemd160([UInt8]()).hex == "9c1185a5c5e9fc54612808977ee8f548b2258d31")
        var abc = [UInt8](repeating: 0, count: 20)
        Array("abc".utf8).withUnsafeBytes { m in abc.withUnsafeMutableBytes { Hashes.ripemd160(m, into: $0) } }
        #expect(abc.hex == "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc")
    }

    @Test func displayHexIsReversed() {
        let hash = Hash256(displayHex: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")!
        #expect(hash.internalHex == "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000")
        #expect(hash.displayHex == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var hasher = SHA256Hasher()
        hasher.update(Array(data[..<333]))
        hasher.update(Array(data[333...]))
        #expect(hasher.finalizeDouble() == Hashes.dsha256(data))
    }
}

@Suite struct WorkTests {
    @Test func compactTargetsAndWork() throws {
        // Difficulty 1 (mainnet genesis): target 0xffff << 208, work 0x100010001.
        let target = try #require(UInt256(compact: 0x1d00_ffff))
        #expect(target == UInt256(0xffff) << 208)
        #expect(ProofOfWork.work(bits: 0x1d00_ffff) == UInt256(0x1_0001_0001))
        // Regtest: target just under 2^255, so every header is worth 2.
        #expect(ProofOfWork.work(bits: 0x207f_ffff) == UInt256(2))
    }

    @Test func invalidCompactEncodings() {
        #expect(UInt256(compact: 0x0492_3456) == nil)          // negative (Core: SetCompact(0x04923456) sets fNegative)
        #expect(UInt256(compact: 0x0180_0001) == .zero)         // sign bit set, but the word shifts away to zero
        #expect(UInt256(compact: 0x2301_0000) == nil)          // overflows 256 bits
        #expect(ProofOfWork.target(bits: 0) == nil)
        #expect(!ProofOfWork.check(hash: .zero, bits: 0))
    }

    @Test func division() {
        let a = UInt256(w0: 0x1234, w1: 0x5678, w2: 0x9abc, w3: 0xdef0)
        let b = UInt256(0x1_0000_0001)
        let q = a / b
        #expect(q < a)
        #expect(UInt256.work(forTarget: .max) == UInt256(1))
    }
}

@Suite struct MerkleTests {
    @Test func singleLeafIsItsOwnRoot() {
        let leaf = Hashes.sha256(Array("x".utf8))
        #expect(Merkle.root([leaf]) == (leaf, false))
    }

    @Test func duplicatedPairIsReportedAsMutation() {
        let a = Hashes.sha256(Array("a".utf8)), b = Hashes.sha256(Array("b".utf8)), c = Hashes.sha256(Array("c".utf8))
        let odd = Merkle.root([a, b, c])
        let twin = Merkle.root([a, b, c, c])
        #expect(odd.root == twin.root)   // CVE-2012-2459: same root...
        #expect(!odd.mutated)
        #expect(twin.mutated)            // ...but the duplicated list is flagged
    }
}
