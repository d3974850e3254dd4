/// A growable little-endian byte buffer for consensus serialization.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    @inlinable public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
    }

    @inlinable public mutating func write(_ byte: UInt8) { bytes.append(byte) }

    @inlinable public mutating func writeLE<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func write<C: Collection>(_ data: C) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
    }

    @inlinable public mutating func write(_ buffer: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: buffer)
    }

    @inlinable public mutating func write(_ hash: Hash256) {
        hash.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// Bitcoin's CompactSize length prefix.
    @inlinable public mutating func writeCompactSize(_ value: UInt64) {
        switch value {
        case 0..<253: write(UInt8(value))
        case 253...0xffff: write(0xfd); writeLE(UInt16(value))
        case 0x1_0000...0xffff_ffff: write(0xfe); writeLE(UInt32(value))
        default: write(0xff); writeLE(value)
        }
    }

    @inlinable public mutating func writeCompactSize(_ value: Int) { writeCompactSize(UInt64(value)) }

    /// A length-prefixed byte string (scripts, witness items).
    @inlinable public mutating func writeVarBytes<C: Collection>(_ data: C) where C.Element == UInt8 {
        writeCompactSize(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    /// Core's VARINT (serialize.h, `VarIntMode::DEFAULT`): MSB base-128 with one subtracted per
    /// continuation byte, so every value has exactly one encoding. Used by undo records and the
    /// chainstate, never by blocks or transactions.
    @inlinable public mutating func writeVarInt(_ value: UInt64) {
        var tmp = [UInt8](repeating: 0, count: 10)
        var n = value
        var length = 0
        while true {
            tmp[length] = UInt8(truncatingIfNeeded: n & 0x7f) | (length > 0 ? 0x80 : 0x00)
            if n <= 0x7f { break }
            n = (n >> 7) - 1
            length += 1
        }
        while length >= 0 {
            bytes.append(tmp[length])
            length -= 1
        }
    }

    public static func compactSizeLength(_ value: Int) -> Int {
        switch value {
        case 0..<253: return 1
        case 253...0xffff: return 3
        case 0x1_0000...0xffff_ffff: return 5
        default: return 9
        }
    }
}
