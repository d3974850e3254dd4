import CCrypto
import CSHA256

/// A 32-byte hash stored inline (no heap allocation), in internal byte order
/// (the order the bytes are hashed and serialized; explorers display it reversed).
public struct Hash256: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var a: UInt64, b: UInt64, c: UInt64, d: UInt64

    public static let zero = Hash256(a: 0, b: 0, c: 0, d: 0)

    @inlinable public init(a: UInt64, b: UInt64, c: UInt64, d: UInt64) {
        self.a = a; self.b = b; self.c = c; self.d = d
    }

    /// Reads 32 bytes at `pointer` (no alignment needed).
    @inlinable public init(loading pointer: UnsafeRawPointer) {
        a = pointer.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        b = pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        c = pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        d = pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    public init<C: Collection>(bytes: C) where C.Element == UInt8 {
        precondition(bytes.count == 32, "Hash256 needs exactly 32 bytes")
        let array = Array(bytes)
        self = array.withUnsafeBytes { Hash256(loading: $0.baseAddress!) }
    }

    /// Parses display hex (reversed byte order, as block explorers show hashes).
    public init?(displayHex: String) {
        guard let bytes = [UInt8](hex: displayHex), bytes.count == 32 else { return nil }
        self.init(bytes: bytes.reversed())
    }

    @inlinable public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = self
        return try Swift.withUnsafeBytes(of: &copy) { try body($0) }
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Hex in display order (byte-reversed), as `bitcoin-cli` and explorers print it.
    public var displayHex: String { withUnsafeBytes { Hex.encode($0, reversed: true) } }
    /// Hex in internal (serialization) order.
    public var internalHex: String { withUnsafeBytes { Hex.encode($0) } }
    public var description: String { displayHex }

    /// Orders by the 256-bit little-endian number the hash represents (the PoW comparison order).
    public static func < (lhs: Hash256, rhs: Hash256) -> Bool {
        if lhs.d != rhs.d { return lhs.d < rhs.d }
        if lhs.c != rhs.c { return lhs.c < rhs.c }
        if lhs.b != rhs.b { return lhs.b < rhs.b }
        return lhs.a < rhs.a
    }
}

/// SHA-256 family and RIPEMD-160 through libcrypto.
public enum Hashes {
    /// SHA-256 of `buffer`.
    @inlinable public static func sha256(_ buffer: UnsafeRawBufferPointer) -> Hash256 {
        if buffer.count <= smallMessageLimit { return sha256Small(buffer) }
        var ctx = SHA256_CTX()
        SHA256_Init(&ctx)
        SHA256_Update(&ctx, buffer.baseAddress, buffer.count)
        return finish(&ctx)
    }

    /// Longest message hashed by compressing its padded blocks directly: two 64-byte blocks less
    /// the padding's 9 bytes. Merkle nodes (64 bytes), second rounds (32) and headers (80) all
    /// fit; for them OpenSSL's Update/Final bookkeeping cost as much as the compressions.
    public static let smallMessageLimit = 119

    /// SHA-256 of a message of at most `smallMessageLimit` bytes: pads it as FIPS 180-4 says and
    /// runs the compression function on each block: ours with the CPU's SHA extensions where it
    /// has them (OpenSSL's `SHA256_Transform` cost about twice as much per block, its dispatch
    /// and bookkeeping included), OpenSSL's otherwise.
    @usableFromInline static func sha256Small(_ buffer: UnsafeRawBufferPointer) -> Hash256 {
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 16) { raw -> Hash256 in
            let base = raw.baseAddress!
            let blocks = pad(buffer, length: buffer.count, into: base)
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            if usesSHAExtensions {
                var state = initialState
                withUnsafeMutableBytes(of: &state) { words in
                    let pointer = words.baseAddress!.assumingMemoryBound(to: UInt32.self)
                    for i in 0..<blocks { vc_sha256_shani_transform(pointer, bytes + 64 * i) }
                }
                return digest(of: state)
            }
            var ctx = SHA256_CTX()
            SHA256_Init(&ctx)
            for i in 0..<blocks { SHA256_Transform(&ctx, bytes + 64 * i) }
            return digest(of: ctx.h)
        }
    }

    /// Writes a message's last `tail.count` (< 64) bytes padded as FIPS 180-4 says, for a message
    /// of `length` bytes, into `blocks` (room for two); returns the number of 64-byte blocks.
    static func pad(_ tail: UnsafeRawBufferPointer, length: Int, into blocks: UnsafeMutableRawPointer) -> Int {
        let count = tail.count <= 55 ? 1 : 2
        let end = count * 64
        if tail.count > 0 { blocks.copyMemory(from: tail.baseAddress!, byteCount: tail.count) }
        blocks.storeBytes(of: 0x80, toByteOffset: tail.count, as: UInt8.self)
        (blocks + tail.count + 1).initializeMemory(as: UInt8.self, repeating: 0, count: end - 8 - tail.count - 1)
        blocks.storeBytes(of: UInt64(length * 8).bigEndian, toByteOffset: end - 8, as: UInt64.self)
        return count
    }

    /// The digest a SHA-256 state's eight words stand for (each word big-endian).
    static func digest(of state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) -> Hash256 {
        var out = Hash256.zero
        Swift.withUnsafeBytes(of: state) { words in
            Swift.withUnsafeMutableBytes(of: &out) { bytes in
                for i in 0..<8 { bytes.storeBytes(of: words.load(fromByteOffset: 4 * i, as: UInt32.self).bigEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
        }
        return out
    }

    @inlinable public static func sha256<C: ByteContainer>(_ bytes: C) -> Hash256 {
        bytes.withUnsafeBytes { sha256($0) }
    }

    /// Double SHA-256 (`dsha`): block hashes, txids, merkle nodes, checksums.
    @inlinable public static func dsha256(_ buffer: UnsafeRawBufferPointer) -> Hash256 {
        var first = sha256(buffer)
        return Swift.withUnsafeBytes(of: &first) { sha256($0) }
    }

    @inlinable public static func dsha256<C: ByteContainer>(_ bytes: C) -> Hash256 {
        bytes.withUnsafeBytes { dsha256($0) }
    }

    /// Double SHA-256 of the concatenation of several buffers, without copying them together.
    @inlinable public static func dsha256(parts: UnsafeRawBufferPointer...) -> Hash256 {
        var hasher = SHA256Hasher()
        for part in parts { hasher.update(part) }
        return hasher.finalizeDouble()
    }

    @inlinable static func finish(_ ctx: inout SHA256_CTX) -> Hash256 {
        var out = Hash256.zero
        Swift.withUnsafeMutableBytes(of: &out) { _ = SHA256_Final($0.baseAddress!.assumingMemoryBound(to: UInt8.self), &ctx) }
        return out
    }

    /// RIPEMD-160(SHA-256(bytes)): script and key hashes.
    public static func hash160<C: ByteContainer>(_ bytes: C) -> [UInt8] {
        let inner = sha256(bytes)
        return ripemd160(inner.bytes)
    }

    /// RIPEMD-160 of `bytes` into the first 20 bytes of `out`, without allocating.
    public static func ripemd160(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 20, "RIPEMD-160 needs 20 bytes of output")
        var ctx = RIPEMD160_CTX()
        RIPEMD160_Init(&ctx)
        if bytes.count <= ripemd160OneBlockLimit {
            // One padded block compressed directly (a SHA-256 digest, every consensus hash):
            // Update/Final's bookkeeping cost as much as the compression.
            withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { block in
                let base = block.baseAddress!
                if bytes.count > 0 { base.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
                base.storeBytes(of: 0x80, toByteOffset: bytes.count, as: UInt8.self)
                (base + bytes.count + 1).initializeMemory(as: UInt8.self, repeating: 0, count: 56 - bytes.count - 1)
                // RIPEMD-160 pads like MD4: the bit length little-endian.
                base.storeBytes(of: UInt64(bytes.count * 8).littleEndian, toByteOffset: 56, as: UInt64.self)
                RIPEMD160_Transform(&ctx, base)
            }
            // The digest is the five chaining words, little-endian.
            out.storeBytes(of: ctx.A.littleEndian, toByteOffset: 0, as: UInt32.self)
            out.storeBytes(of: ctx.B.littleEndian, toByteOffset: 4, as: UInt32.self)
            out.storeBytes(of: ctx.C.littleEndian, toByteOffset: 8, as: UInt32.self)
            out.storeBytes(of: ctx.D.littleEndian, toByteOffset: 12, as: UInt32.self)
            out.storeBytes(of: ctx.E.littleEndian, toByteOffset: 16, as: UInt32.self)
            return
        }
        RIPEMD160_Update(&ctx, bytes.baseAddress, bytes.count)
        _ = RIPEMD160_Final(out.baseAddress!.assumingMemoryBound(to: UInt8.self), &ctx)
    }

    /// Longest message RIPEMD-160 pads into a single 64-byte block (its 9 bytes of padding after).
    static let ripemd160OneBlockLimit = 55

    public static func ripemd160<C: ByteContainer>(_ bytes: C) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        bytes.withUnsafeBytes { buffer in out.withUnsafeMutableBytes { ripemd160(buffer, into: $0) } }
        return out
    }
}

/// Incremental SHA-256 over several buffers.
public struct SHA256Hasher {
    @usableFromInline var ctx = SHA256_CTX()

    @inlinable public init() { SHA256_Init(&ctx) }

    @inlinable public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        SHA256_Update(&ctx, buffer.baseAddress, buffer.count)
    }

    @inlinable public mutating func update<C: ByteContainer>(_ bytes: C) {
        bytes.withUnsafeBytes { update($0) }
    }

    @inlinable public mutating func finalize() -> Hash256 { Hashes.finish(&ctx) }

    /// SHA-256 of the SHA-256 of everything fed so far.
    @inlinable public mutating func finalizeDouble() -> Hash256 {
        var first = Hashes.finish(&ctx)
        return Swift.withUnsafeBytes(of: &first) { Hashes.sha256($0) }
    }
}

/// Contiguous bytes that can be borrowed as a raw buffer (Foundation's `ContiguousBytes`
/// without depending on Foundation).
public protocol ByteContainer {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ByteContainer where Element == UInt8 {}
extension ArraySlice: ByteContainer where Element == UInt8 {}
extension ContiguousArray: ByteContainer where Element == UInt8 {}
