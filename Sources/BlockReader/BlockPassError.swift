import BitcoinWire
import BlockFiles

/// A block the pass cannot hand on, with the blk file and offset where it goes wrong.
public enum BlockPassError: Error, CustomStringConvertible, Sendable {
    /// The block does not parse, or fails a check Core makes at its height.
    case invalidBlock(path: String, offset: Int, block: BlockHash, reason: String)
    /// The file changed since the header pass (pruned, restored): the block is no longer there.
    case fileChanged(path: String, offset: Int, block: BlockHash, fileEnd: Int, blockEnd: Int)

    public var path: String {
        switch self {
        case let .invalidBlock(path, _, _, _), let .fileChanged(path, _, _, _, _): path
        }
    }

    public var offset: Int {
        switch self {
        case let .invalidBlock(_, offset, _, _), let .fileChanged(_, offset, _, _, _): offset
        }
    }

    public var description: String {
        switch self {
        case let .invalidBlock(path, offset, block, reason):
            "\(path) at offset \(offset): block \(block): \(reason)"
        case let .fileChanged(path, offset, block, fileEnd, blockEnd):
            "\(path) at offset \(offset): block \(block): the file changed since the header pass (it now ends at byte \(fileEnd), the block ran to \(blockEnd)); run again to rescan it"
        }
    }
}
