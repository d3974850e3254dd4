/// What went wrong while decoding bytes, and where (offset from the start of the decoded buffer).
public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable, CustomStringConvertible {
        case truncated(needed: Int, available: Int)
        case nonCanonicalCompactSize
        case compactSizeTooLarge(UInt64)
        case varIntOverflow
        case countExceedsBytes(what: String, count: UInt64, remaining: Int)
        case invalid(String)

        /// What is wrong, without where (a reader naming a file offset adds its own).
        public var description: String {
            switch self {
            case let .truncated(needed, available): "truncated: needed \(needed) bytes, \(available) left"
            case .nonCanonicalCompactSize: "non-canonical CompactSize"
            case let .compactSizeTooLarge(value): "CompactSize \(value) above the 32 MiB limit"
            case .varIntOverflow: "VARINT overflows 64 bits"
            case let .countExceedsBytes(what, count, remaining): "\(what) count \(count) cannot fit in the \(remaining) bytes left"
            case let .invalid(message): message
            }
        }
    }

    public var kind: Kind
    public var offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    /// What is wrong and the offset in the decoded buffer.
    public var description: String { "\(kind) at offset \(offset)" }
}

/// A bounds-checked, zero-copy reading position over borrowed bytes. Every read checks the
/// remaining length first, so no input can make it read out of bounds.
public struct ByteCursor {
    public let base: UnsafeRawBufferPointer
    public var position: Int

    @inlinable public init(_ base: UnsafeRawBufferPointer, position: Int = 0) {
        self.base = base
        self.position = position
    }

    @inlinable public var remaining: Int { base.count - position }
    @inlinable public var isAtEnd: Bool { position >= base.count }

    @inlinable func require(_ n: Int) throws(WireError) {
        if n < 0 || n > base.count - position {
            throw WireError(.truncated(needed: n, available: base.count - position), at: position)
        }
    }

    @inlinable public mutating func skip(_ n: Int) throws(WireError) {
        try require(n)
        position += n
    }

    @inlinable public mutating func readUInt8() throws(WireError) -> UInt8 {
        try require(1)
        defer { position += 1 }
        return base[position]
    }

    @inlinable public mutating func readLE<T: FixedWidthInteger>(_: T.Type = T.self) throws(WireError) -> T {
        try require(MemoryLayout<T>.size)
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: base.baseAddress!.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    @inlinable public mutating func readHash() throws(WireError) -> Hash256 {
        try require(32)
        defer { position += 32 }
        return Hash256(loading: base.baseAddress! + position)
    }

    /// A view of the next `n` bytes (no copy).
    @inlinable public mutating func readBytes(_ n: Int) throws(WireError) -> UnsafeRawBufferPointer {
        try require(n)
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: base[position..<position + n])
    }

    /// CompactSize exactly as Core's `ReadCompactSize(range_check=true)`: the shortest encoding only,
    /// and never above `Limits.maxCompactSize`.
    @inlinable public mutating func readCompactSize() throws(WireError) -> UInt64 {
        // Most are one byte (counts, script lengths): no error path to set up for them.
        if position < base.count, base[position] < 253 {
            defer { position += 1 }
            return UInt64(base[position])
        }
        return try readLongCompactSize()
    }

    /// `readCompactSize` past its one-byte case.
    @inlinable mutating func readLongCompactSize() throws(WireError) -> UInt64 {
        let start = position
        let first = try readUInt8()
        let value: UInt64
        switch first {
        case 0..<253:
            return UInt64(first)
        case 253:
            value = UInt64(try readLE(UInt16.self))
            if value < 253 { throw WireError(.nonCanonicalCompactSize, at: start) }
        case 254:
            value = UInt64(try readLE(UInt32.self))
            if value < 0x1_0000 { throw WireError(.nonCanonicalCompactSize, at: start) }
        default:
            value = try readLE(UInt64.self)
            if value < 0x1_0000_0000 { throw WireError(.nonCanonicalCompactSize, at: start) }
        }
        if value > Limits.maxCompactSize { throw WireError(.compactSizeTooLarge(value), at: start) }
        return value
    }

    /// A count of items each at least `minItemSize` bytes long: rejected before anything is
    /// allocated if the remaining bytes cannot hold that many.
    @inlinable public mutating func readCount(of what: String, minItemSize: Int) throws(WireError) -> Int {
        let start = position
        let count = try readCompactSize()
        // count ≤ 32 Mi (CompactSize limit), so the product cannot overflow.
        if Int(count) &* minItemSize > remaining {
            throw WireError(.countExceedsBytes(what: what, count: count, remaining: remaining), at: start)
        }
        return Int(count)
    }

    /// A CompactSize-prefixed byte string (script, witness item), as a view.
    @inlinable public mutating func readVarBytes() throws(WireError) -> UnsafeRawBufferPointer {
        let start = position
        let length = try readCompactSize()
        if length > UInt64(remaining) {
            throw WireError(.truncated(needed: Int(length), available: remaining), at: start)
        }
        return try readBytes(Int(length))
    }

    /// Core's VARINT (see `ByteWriter.writeVarInt`), with its overflow check.
    @inlinable @inline(__always) public mutating func readVarInt() throws(WireError) -> UInt64 {
        // Where ten bytes remain (the longest VARINT), no byte needs its own bounds check: the
        // undo records' walk reads four per spent coin, so this path is inlined there and the
        // careful one is not.
        if base.count - position >= Self.maxVarIntBytes {
            var n: UInt64 = 0
            var next = position
            for _ in 0..<Self.maxVarIntBytes {
                let byte = base[next]
                next += 1
                if n > (UInt64.max >> 7) { break }  // overflow: the careful path says where
                n = (n << 7) | UInt64(byte & 0x7f)
                if byte & 0x80 == 0 {
                    position = next
                    return n
                }
                if n == UInt64.max { break }
                n += 1
            }
        }
        return try readVarIntCarefully()
    }

    /// Bytes of the longest VARINT (a 64-bit value, 7 bits a byte).
    @usableFromInline static let maxVarIntBytes = 10

    /// `readVarInt` byte by byte, each read checked: near the end of the buffer, and for the
    /// error of one that overflows.
    @inlinable @inline(never) mutating func readVarIntCarefully() throws(WireError) -> UInt64 {
        let start = position
        var n: UInt64 = 0
        while true {
            let byte = try readUInt8()
            if n > (UInt64.max >> 7) { throw WireError(.varIntOverflow, at: start) }
            n = (n << 7) | UInt64(byte & 0x7f)
            if byte & 0x80 != 0 {
                if n == UInt64.max { throw WireError(.varIntOverflow, at: start) }
                n += 1
            } else {
                return n
            }
        }
    }
}
