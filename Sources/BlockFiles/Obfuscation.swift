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
        let rotated = rotatedWord(fileOffset: fileOffset)
        var i = 0
        let count = buffer.count
        while i + 8 <= count {
            let value = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            base.storeBytes(of: value ^ rotated.littleEndian, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        let keyBytes = withUnsafeBytes(of: rotated.littleEndian) { Array($0) }
        while i < count {
            base.storeBytes(of: base.load(fromByteOffset: i, as: UInt8.self) ^ keyBytes[i % 8], toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }

    /// Copies `source` (which starts at `fileOffset` in its file) into `destination`, removing the
    /// obfuscation on the way: one pass over memory instead of a copy and then an XOR.
    public func copyApplying(from source: UnsafeRawBufferPointer, fileOffset: Int, into destination: inout [UInt8]) {
        let count = source.count
        destination.removeAll(keepingCapacity: true)
        guard count > 0 else { return }
        if destination.capacity < count { destination.reserveCapacity(count) }
        let rotated = rotatedWord(fileOffset: fileOffset)
        destination.append(contentsOf: repeatElement(0, count: count))
        destination.withUnsafeMutableBytes { out in
            let dst = out.baseAddress!, src = source.baseAddress!
            var i = 0
            while i + 8 <= count {
                dst.storeBytes(of: src.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ rotated.littleEndian, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            let keyBytes = withUnsafeBytes(of: rotated.littleEndian) { Array($0) }
            while i < count {
                dst.storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self) ^ keyBytes[i % 8], toByteOffset: i, as: UInt8.self)
                i += 1
            }
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
