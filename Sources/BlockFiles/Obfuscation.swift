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
        let shift = (fileOffset % 8) * 8
        // Rotate the key so that index 0 of the buffer lines up with key[fileOffset % 8].
        let rotated = shift == 0 ? word : (word >> UInt64(shift)) | (word << UInt64(64 - shift))
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

    public func apply(to bytes: inout [UInt8], fileOffset: Int) {
        bytes.withUnsafeMutableBytes { apply(to: $0, fileOffset: fileOffset) }
    }
}
