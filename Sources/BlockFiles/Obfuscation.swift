/// The `blocks/xor.dat` key of Bitcoin Core 28+: every byte of `blk*.dat` and `rev*.dat` is XORed
/// with `key[fileOffset % 8]`. An all-zero key (or no `xor.dat`) means no obfuscation.
public struct XorKey: Equatable, Sendable {
    public static let length = 8
    public static let fileName = "xor.dat"

    /// The 8 key bytes as one little-endian word, so 8 bytes are XORed at once.
    public let word: UInt64

    public static let none = XorKey(word: 0)

    public init(word: UInt64) { self.word = word }

    public init?(bytes: [UInt8]) {
        guard bytes.count == XorKey.length else { return nil }
        word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    public var bytes: [UInt8] { withUnsafeBytes(of: word) { Array($0) } }
    public var isIdentity: Bool { word == 0 }

    /// XORs `buffer` in place, as if it started at `fileOffset` within its file.
    public func apply(to buffer: UnsafeMutableRawBufferPointer, fileOffset: Int) {
        guard !isIdentity, buffer.count > 0, let base = buffer.baseAddress else { return }
        Self.xor(from: UnsafeRawPointer(base), into: base, count: buffer.count, key: rotatedWord(fileOffset: fileOffset))
    }

    /// Copies `source` (which starts at `fileOffset` in its file) into `destination`, removing the
    /// obfuscation on the way: one pass over memory instead of a copy and then an XOR.
    public func copyApplying(from source: UnsafeRawBufferPointer, fileOffset: Int, into destination: inout [UInt8]) {
        let count = source.count
        // Resized without filling what is overwritten anyway (a buffer reused block after block
        // only grows now and then).
        if destination.count > count {
            destination.removeLast(destination.count - count)
        } else if destination.count < count {
            destination.append(contentsOf: repeatElement(0, count: count - destination.count))
        }
        guard count > 0 else { return }
        let key = rotatedWord(fileOffset: fileOffset)
        destination.withUnsafeMutableBytes { out in
            Self.xor(from: source.baseAddress!, into: out.baseAddress!, count: count, key: key)
        }
    }

    /// `destination[i] = source[i] ^ key byte (i % 8)` (the key as laid out in memory), 16 bytes
    /// at a time; `source` and `destination` may be the same.
    @inline(__always)
    static func xor(from source: UnsafeRawPointer, into destination: UnsafeMutableRawPointer, count: Int, key: UInt64) {
        let key16 = SIMD2<UInt64>(repeating: key.littleEndian)
        var i = 0
        while i + 16 <= count {
            destination.storeBytes(of: source.loadUnaligned(fromByteOffset: i, as: SIMD2<UInt64>.self) ^ key16, toByteOffset: i, as: SIMD2<UInt64>.self)
            i += 16
        }
        if i + 8 <= count {
            destination.storeBytes(of: source.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ key.littleEndian, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        // The last few bytes: key byte j is the j-th lowest byte of the (little-endian) word.
        while i < count {
            let keyByte = UInt8(truncatingIfNeeded: key >> UInt64(8 * (i % 8)))
            destination.storeBytes(of: source.load(fromByteOffset: i, as: UInt8.self) ^ keyByte, toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }

    /// The key rotated so that its first byte is the one for `fileOffset`.
    @inline(__always) func rotatedWord(fileOffset: Int) -> UInt64 {
        let shift = UInt64((fileOffset % 8) * 8)
        return shift == 0 ? word : (word >> shift) | (word << (64 - shift))
    }

    public func apply(to bytes: inout [UInt8], fileOffset: Int) {
        bytes.withUnsafeMutableBytes { apply(to: $0, fileOffset: fileOffset) }
    }
}
