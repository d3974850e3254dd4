import BitcoinWire
import BlockFiles

/// One well-formed block record found by the header pass.
public struct HeaderRecord: Sendable {
    public var hash: BlockHash
    public var previous: BlockHash
    public var bits: UInt32
    public var location: RecordLocation
}

/// Where a block stands in the tree of a blocks directory.
public enum BlockStatus: Hashable, Sendable {
    /// On the best chain (most cumulative work).
    case best
    /// Connected to the chain's root, but on a branch with less work.
    case stale
    /// A later record of a block stored earlier (Core can write a block twice); `of` is its
    /// first record, which carries the block's status.
    case duplicate(of: EntryIndex)
    /// Its ancestry does not reach the chain's root (a parent missing, or another root of a
    /// pruned directory): no height, no work.
    case unconnected
}

/// One block record of the tree: what the header pass found, and where the block stands.
///
/// The model is btcd's `blockNode`: hash and parent link, the location of the record in the blk
/// files, height and cumulative work, and a status.
public struct BlockEntry: Sendable {
    public let hash: BlockHash
    /// The previous block's hash (the header's `hashPrevBlock`).
    public let parent: BlockHash
    /// The header's compact target.
    public let bits: UInt32
    public let location: RecordLocation
    /// Height above the network's genesis; nil for an unconnected record.
    public internal(set) var height: Int?
    /// Work of the chain from the root up to and including this block (zero when unconnected).
    public internal(set) var cumulativeWork: UInt256
    public internal(set) var status: BlockStatus

    init(_ record: HeaderRecord) {
        hash = record.hash
        parent = record.previous
        bits = record.bits
        location = record.location
        height = nil
        cumulativeWork = .zero
        status = .unconnected
    }

    public var isOnBestChain: Bool { status == .best }
}

/// The place of a block record among a ``ChainIndex``'s entries (file order): how the index, the
/// block pass, sender resolution and the engine name one record of the directory.
public struct EntryIndex: Hashable, Comparable, Strideable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    @inlinable public init(_ rawValue: Int) { self.rawValue = rawValue }

    @inlinable public func distance(to other: EntryIndex) -> Int { other.rawValue - rawValue }
    @inlinable public func advanced(by n: Int) -> EntryIndex { EntryIndex(rawValue + n) }
    @inlinable public static func < (a: EntryIndex, b: EntryIndex) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "entry \(rawValue)" }
}

/// A ``ChainIndex``'s entries, in file order, addressed by ``EntryIndex`` (a view: no copy).
public struct Entries: RandomAccessCollection, Sendable {
    /// The storage, addressed by `EntryIndex.rawValue` inside the module (the tree's flat arrays
    /// and the hash table index it so).
    @usableFromInline var nodes: [BlockEntry]

    @inlinable init(nodes: [BlockEntry]) { self.nodes = nodes }

    public typealias Index = EntryIndex
    public typealias Indices = Range<EntryIndex>
    @inlinable public var startIndex: EntryIndex { EntryIndex(0) }
    @inlinable public var endIndex: EntryIndex { EntryIndex(nodes.count) }
    @inlinable public subscript(position: EntryIndex) -> BlockEntry { nodes[position.rawValue] }
}
