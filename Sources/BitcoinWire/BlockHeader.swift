/// The 80-byte block header.
public struct BlockHeader: Hashable, Sendable {
    public static let size = 80

    public var version: Int32
    public var previousBlockHash: BlockHash
    public var merkleRoot: Hash256
    public var time: UInt32
    public var bits: UInt32
    public var nonce: UInt32

    public init(version: Int32, previousBlockHash: BlockHash, merkleRoot: Hash256, time: UInt32, bits: UInt32, nonce: UInt32) {
        self.version = version
        self.previousBlockHash = previousBlockHash
        self.merkleRoot = merkleRoot
        self.time = time
        self.bits = bits
        self.nonce = nonce
    }

    /// Decodes the 80 bytes at `cursor` (the one way headers are decoded).
    public init(from cursor: inout ByteCursor) throws(WireError) {
        version = try cursor.readLE(Int32.self)
        previousBlockHash = try cursor.readHash(as: BlockHash.self)
        merkleRoot = try cursor.readHash()
        time = try cursor.readLE(UInt32.self)
        bits = try cursor.readLE(UInt32.self)
        nonce = try cursor.readLE(UInt32.self)
    }

    public func encode(to writer: inout ByteWriter) {
        writer.writeLE(version)
        writer.write(previousBlockHash)
        writer.write(merkleRoot)
        writer.writeLE(time)
        writer.writeLE(bits)
        writer.writeLE(nonce)
    }

    public var serialized: [UInt8] {
        var writer = ByteWriter(capacity: 80)
        encode(to: &writer)
        return writer.bytes
    }

    /// Block hash: dSHA256 of the 80 serialized bytes.
    public var hash: BlockHash { BlockHash(Hashes.dsha256(serialized)) }

    /// Hash of the 80 header bytes at `pointer`, without decoding them.
    @inlinable public static func hash(of pointer: UnsafeRawPointer) -> BlockHash {
        BlockHash(Hashes.dsha256(UnsafeRawBufferPointer(start: pointer, count: 80)))
    }
}
