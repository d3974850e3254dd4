/// A double-SHA256 digest with one meaning. Each meaning is its own type (rust-bitcoin's hash
/// newtypes), so a block hash cannot be passed where a txid is expected; the digest itself is a
/// `Hash256` (`rawHash`) for hashing, proof of work and merkle trees.
public protocol HashNewtype: Hashable, Comparable, Sendable, CustomStringConvertible {
    var rawHash: Hash256 { get }
    init(_ rawHash: Hash256)
}

extension HashNewtype {
    public static var zero: Self { Self(.zero) }

    /// Reads 32 bytes at `pointer` (internal byte order, no alignment needed).
    @inlinable public init(loading pointer: UnsafeRawPointer) { self.init(Hash256(loading: pointer)) }

    /// Parses display hex (reversed byte order, as `bitcoin-cli` and explorers show hashes).
    public init?(displayHex: String) {
        guard let hash = Hash256(displayHex: displayHex) else { return nil }
        self.init(hash)
    }

    /// The 32 bytes in internal (serialization) order.
    public var bytes: [UInt8] { rawHash.bytes }
    /// Hex in display order (byte-reversed).
    public var displayHex: String { rawHash.displayHex }
    public var description: String { rawHash.displayHex }

    @inlinable public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try rawHash.withUnsafeBytes(body)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawHash < rhs.rawHash }
}

/// A block's hash: dSHA256 of its 80-byte header.
public struct BlockHash: HashNewtype {
    public let rawHash: Hash256
    @inlinable public init(_ rawHash: Hash256) { self.rawHash = rawHash }
}

/// A transaction's id: dSHA256 of its serialization without witness data.
public struct Txid: HashNewtype {
    public let rawHash: Hash256
    @inlinable public init(_ rawHash: Hash256) { self.rawHash = rawHash }
}

/// A transaction's witness id: dSHA256 of its full serialization (BIP141).
public struct Wtxid: HashNewtype {
    public let rawHash: Hash256
    @inlinable public init(_ rawHash: Hash256) { self.rawHash = rawHash }
}

extension ByteWriter {
    /// Writes a hash's 32 bytes in internal order.
    public mutating func write<H: HashNewtype>(_ hash: H) { write(hash.rawHash) }
}

extension ByteCursor {
    /// Reads a 32-byte hash of the given meaning.
    public mutating func readHash<H: HashNewtype>(as type: H.Type) throws(WireError) -> H { H(try readHash()) }
}
