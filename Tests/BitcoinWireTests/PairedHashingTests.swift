import Testing
import CSHA256
@testable import BitcoinWire

/// Paired hashing (two streams through the SHA extensions at once) equals OpenSSL's double
/// SHA-256 of each message, for every short length pair and long ones.
@Suite struct PairedHashingTests {
    @Test func pairsEqualOneAtATime() {
        var generator = SystemRandomNumberGenerator()
        for lengthA in 0...Hashes.smallMessageLimit {
            for lengthB in [0, 1, 31, 32, 48, 55, 56, 63, 64, 100, Hashes.smallMessageLimit, lengthA] {
                let a = (0..<lengthA).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let b = (0..<lengthB).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let paired = a.withUnsafeBytes { x in b.withUnsafeBytes { y in Hashes.dsha256Pair(x, y) } }
                #expect(paired.0 == Hashes.dsha256(a) && paired.1 == Hashes.dsha256(b), "lengths \(lengthA), \(lengthB)")
            }
        }
    }

    /// Long messages: whole blocks paired while both have them, then the ends.
    @Test func longMessagesEqualOneAtATime() {
        var generator = SystemRandomNumberGenerator()
        for (lengthA, lengthB) in [(64, 0), (128, 64), (191, 250), (1_000, 55), (4_096, 4_160), (63, 1_000_001 % 9_000), (120, 119)] {
            let a = (0..<lengthA).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let b = (0..<lengthB).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let paired = a.withUnsafeBytes { x in b.withUnsafeBytes { y in Hashes.dsha256Pair(x, y) } }
            #expect(paired.0 == Hashes.dsha256(a) && paired.1 == Hashes.dsha256(b), "lengths \(lengthA), \(lengthB)")
        }
    }

    /// Many messages two lanes at a time (what txids use): each equals OpenSSL's double SHA-256
    /// of its parts side by side, for every count up to a dozen, parts of every length around
    /// the block and padding boundaries, and messages far longer than their neighbours.
    @Test func manyMessagesEqualOneAtATime() {
        var generator = SystemRandomNumberGenerator()
        let lengths = [0, 1, 4, 31, 32, 55, 56, 63, 64, 65, 119, 120, 127, 128, 200, 1_000, 10_000]
        for count in 0...12 {
            for _ in 0..<20 {
                let messages: [[[UInt8]]] = (0..<count).map { _ in
                    (0..<(Bool.random(using: &generator) ? 1 : 3)).map { _ in
                        let length = lengths.randomElement(using: &generator)! + (Bool.random(using: &generator) ? 0 : Int.random(in: 0...3, using: &generator))
                        return (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    }
                }
                var digests = [UInt8](repeating: 0, count: 32 * count)
                // The parts' memory stays put while the C code reads it.
                let pinned = messages.map { parts in parts.map { part -> UnsafeMutableBufferPointer<UInt8> in
                    let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, part.count))
                    _ = copy.initialize(from: part)
                    return copy
                } }
                defer { pinned.joined().forEach { $0.deallocate() } }
                let described = pinned.indices.map { i in
                    let parts = pinned[i], part = { (k: Int) in k < parts.count ? UnsafePointer(parts[k].baseAddress) : nil }
                    let length = { (k: Int) in k < messages[i].count ? messages[i][k].count : 0 }
                    return vc_message(part: (part(0), part(1), part(2)), length: (length(0), length(1), length(2)))
                }
                // The C function needs the SHA extensions (without them `BlockView.txids` hashes
                // one transaction at a time through OpenSSL, which the corpus tests cover).
                if Hashes.usesSHAExtensions {
                    described.withUnsafeBufferPointer { m in digests.withUnsafeMutableBufferPointer { vc_sha256d_messages(m.baseAddress, count, $0.baseAddress) } }
                    for i in 0..<count {
                        let expected = Hashes.dsha256(messages[i].reduce([], +))
                        #expect(Array(digests[(32 * i)..<(32 * i + 32)]) == expected.bytes, "message \(i) of \(count), parts \(messages[i].map(\.count))")
                    }
                }
            }
        }
    }

    /// A known answer: the merkle node of two zero hashes.
    @Test func knownAnswer() {
        let zeros = [UInt8](repeating: 0, count: 64)
        let paired = zeros.withUnsafeBytes { Hashes.dsha256Pair($0, $0) }
        #expect(paired.0.internalHex == "e2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9")
        #expect(paired.1 == paired.0)
    }
}
