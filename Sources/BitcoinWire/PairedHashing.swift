import CCrypto
import CSHA256

/// SHA-256 of two short messages at once: with the CPU's SHA extensions the two streams of
/// compressions run interleaved (a single stream waits on each round's latency), otherwise one
/// after the other through OpenSSL. Merkle trees and consensus-hash trees hash their nodes in
/// pairs this way.
extension Hashes {
    /// Whether short messages and paired hashing use our compression function with the CPU's SHA
    /// extensions (x86 with SHA, SSSE3 and SSE4.1); OpenSSL's otherwise.
    public static let usesSHAExtensions = vc_sha256_shani_supported() != 0

    /// SHA-256's initial state (FIPS 180-4, 5.3.3).
    @usableFromInline static let initialState: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)

    /// Double SHA-256 of `a` and of `b` (any lengths): their whole blocks are compressed two at
    /// a time while both have some, then each message's padded end.
    public static func dsha256Pair(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> (Hash256, Hash256) {
        guard usesSHAExtensions else { return (dsha256(a), dsha256(b)) }
        return withUnsafeTemporaryAllocation(byteCount: 4 * 128, alignment: 16) { scratch -> (Hash256, Hash256) in
            let tailA = scratch.baseAddress!, tailB = tailA + 128
            let second = tailA + 256
            var stateA = initialState, stateB = initialState
            withUnsafeMutableBytes(of: &stateA) { sa in
                withUnsafeMutableBytes(of: &stateB) { sb in
                    let wa = sa.baseAddress!.assumingMemoryBound(to: UInt32.self), wb = sb.baseAddress!.assumingMemoryBound(to: UInt32.self)
                    // The whole 64-byte blocks, straight from the messages.
                    let fullA = a.count / 64, fullB = b.count / 64
                    let pa = a.baseAddress?.assumingMemoryBound(to: UInt8.self), pb = b.baseAddress?.assumingMemoryBound(to: UInt8.self)
                    let common = min(fullA, fullB)
                    for i in 0..<common { vc_sha256_shani_transform2(wa, pa! + 64 * i, wb, pb! + 64 * i) }
                    for i in common..<fullA { vc_sha256_shani_transform(wa, pa! + 64 * i) }
                    for i in common..<fullB { vc_sha256_shani_transform(wb, pb! + 64 * i) }
                    // The ends, padded (one block, or two where the length field does not fit).
                    let endA = pad(UnsafeRawBufferPointer(rebasing: a[(64 * fullA)...]), length: a.count, into: tailA)
                    let endB = pad(UnsafeRawBufferPointer(rebasing: b[(64 * fullB)...]), length: b.count, into: tailB)
                    let ba = tailA.assumingMemoryBound(to: UInt8.self), bb = tailB.assumingMemoryBound(to: UInt8.self)
                    let commonEnd = min(endA, endB)
                    for i in 0..<commonEnd { vc_sha256_shani_transform2(wa, ba + 64 * i, wb, bb + 64 * i) }
                    for i in commonEnd..<endA { vc_sha256_shani_transform(wa, ba + 64 * i) }
                    for i in commonEnd..<endB { vc_sha256_shani_transform(wb, bb + 64 * i) }
                    secondRound(wa, wb, scratch: second)
                }
            }
            return (digest(of: stateA), digest(of: stateB))
        }
    }

    /// Double SHA-256 of two 64-byte messages at `a` and `b` (merkle nodes: two 32-byte
    /// children side by side). A 64-byte message's padding is a whole block of its own, the same
    /// for every such message, so it is written once here rather than padded per message.
    public static func dsha256Pair64(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> (Hash256, Hash256) {
        guard usesSHAExtensions else {
            return (dsha256(UnsafeRawBufferPointer(start: a, count: 64)), dsha256(UnsafeRawBufferPointer(start: b, count: 64)))
        }
        return withUnsafeTemporaryAllocation(byteCount: 3 * 64, alignment: 16) { scratch -> (Hash256, Hash256) in
            let padding = scratch.baseAddress!, second = padding + 64
            padding.storeBytes(of: UInt8(0x80), as: UInt8.self)
            (padding + 1).initializeMemory(as: UInt8.self, repeating: 0, count: 55)
            padding.storeBytes(of: UInt64(512).bigEndian, toByteOffset: 56, as: UInt64.self)
            var stateA = initialState, stateB = initialState
            withUnsafeMutableBytes(of: &stateA) { sa in
                withUnsafeMutableBytes(of: &stateB) { sb in
                    let wa = sa.baseAddress!.assumingMemoryBound(to: UInt32.self), wb = sb.baseAddress!.assumingMemoryBound(to: UInt32.self)
                    let pad = padding.assumingMemoryBound(to: UInt8.self)
                    vc_sha256_shani_transform2(wa, a.assumingMemoryBound(to: UInt8.self), wb, b.assumingMemoryBound(to: UInt8.self))
                    vc_sha256_shani_transform2(wa, pad, wb, pad)
                    secondRound(wa, wb, scratch: second)
                }
            }
            return (digest(of: stateA), digest(of: stateB))
        }
    }

    /// The second round of two double hashes: each lane's 32-byte first digest, padded, hashed
    /// from the initial state (both lanes at once). `scratch` has room for two blocks.
    private static func secondRound(_ wa: UnsafeMutablePointer<UInt32>, _ wb: UnsafeMutablePointer<UInt32>, scratch: UnsafeMutableRawPointer) {
        let blockA = scratch, blockB = scratch + 64
        digestBlock(from: wa, into: blockA)
        digestBlock(from: wb, into: blockB)
        reset(wa)
        reset(wb)
        vc_sha256_shani_transform2(wa, blockA.assumingMemoryBound(to: UInt8.self), wb, blockB.assumingMemoryBound(to: UInt8.self))
    }

    /// The padded block of a 32-byte digest (the state's words, big-endian) for the second round.
    private static func digestBlock(from state: UnsafeMutablePointer<UInt32>, into block: UnsafeMutableRawPointer) {
        for i in 0..<8 { block.storeBytes(of: state[i].bigEndian, toByteOffset: 4 * i, as: UInt32.self) }
        block.storeBytes(of: UInt8(0x80), toByteOffset: 32, as: UInt8.self)
        (block + 33).initializeMemory(as: UInt8.self, repeating: 0, count: 23)
        block.storeBytes(of: UInt64(256).bigEndian, toByteOffset: 56, as: UInt64.self)
    }

    private static func reset(_ state: UnsafeMutablePointer<UInt32>) {
        withUnsafeBytes(of: initialState) { state.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt32.self), count: 8) }
    }
}
