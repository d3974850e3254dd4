import BitcoinWire
import BlockFiles

/// Why a blocks directory gives no block tree. Each case names the file and offset concerned.
public enum ChainIndexError: Error, CustomStringConvertible, Sendable {
    /// A blk file could not be opened, mapped or read; or the persistent index could not be saved.
    case file(BlockFileError)
    /// The records found are all of another network.
    case foreignNetwork(path: String, found: Network, expected: Network)
    /// The first available block predates BIP34, so its height must be given (the base height).
    case baseHeightNeeded(path: String, offset: Int, block: BlockHash, network: Network, seenNumber: Int?)
    /// The base height given contradicts the BIP34 height the first block must carry.
    case baseHeightDisagrees(path: String, offset: Int, block: BlockHash, carried: Int?, given: Int, network: Network)
    /// The base height given is outside `0...ChainIndex.maxBaseHeight`.
    case baseHeightOutOfRange(path: String, offset: Int, given: Int)
    /// A base height other than 0 was given for a directory holding the genesis block.
    case genesisPresent(path: String, offset: Int, given: Int)
    /// The first available block, read for its height, does not parse.
    case firstBlockUnparsable(path: String, offset: Int, block: BlockHash, error: WireError)

    public var path: String {
        switch self {
        case let .file(error): error.path
        case let .foreignNetwork(path, _, _), let .baseHeightNeeded(path, _, _, _, _), let .baseHeightDisagrees(path, _, _, _, _, _),
             let .baseHeightOutOfRange(path, _, _), let .genesisPresent(path, _, _), let .firstBlockUnparsable(path, _, _, _):
            path
        }
    }

    public var description: String {
        switch self {
        case let .file(error):
            return error.description
        case let .foreignNetwork(path, found, expected):
            return "\(path) at offset 0: holds \(found.rawValue) blocks, none for \(expected.rawValue): wrong network?"
        case let .baseHeightNeeded(path, offset, block, network, seen):
            let number = seen.map { " (its coinbase starts with the number \($0), which cannot be its height)" } ?? ""
            return "\(path) at offset \(offset): first available block \(block) predates BIP34 on \(network.rawValue) (height \(network.consensus.bip34Height)), so its height cannot be read from its coinbase\(number): give the height of the first available block (the base height)"
        case let .baseHeightDisagrees(path, offset, block, carried, given, network):
            let what = carried.map { "BIP34 height \($0)" } ?? "no BIP34 height"
            return "\(path) at offset \(offset): first available block \(block) carries \(what) in its coinbase, which disagrees with the base height \(given) given (\(network.rawValue) requires it from height \(network.consensus.bip34Height))"
        case let .baseHeightOutOfRange(path, offset, given):
            return "\(path) at offset \(offset): base height \(given) is outside 0...\(ChainIndex.maxBaseHeight)"
        case let .genesisPresent(path, offset, given):
            return "\(path) at offset \(offset): the directory holds the genesis block, so its chain starts at height 0, not at the base height \(given) given"
        case let .firstBlockUnparsable(path, offset, block, error):
            return "\(path) at offset \(offset): first available block \(block) does not parse: \(error)"
        }
    }
}
