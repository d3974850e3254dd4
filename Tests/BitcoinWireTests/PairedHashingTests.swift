import Testing
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

    /// A known answer: the merkle node of two zero hashes.
    @Test func knownAnswer() {
        let zeros = [UInt8](repeating: 0, count: 64)
        let paired = zeros.withUnsafeBytes { Hashes.dsha256Pair($0, $0) }
        #expect(paired.0.internalHex == "e2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9")
        #expect(paired.1 == paired.0)
    }
}
