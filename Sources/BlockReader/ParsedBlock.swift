import BitcoinWire
import BlockFiles

/// A block as a worker sees it: valid only inside the transform closure (its bytes may be a
/// reused de-obfuscation buffer or a view of a mapping released later).
public struct ParsedBlock {
    public let height: Int?
    public let hash: BlockHash
    public let location: RecordLocation
    public let view: BlockView
    /// Path of the blk file, for error messages.
    public let path: String
    /// The transactions' txids where verification computed them (nil with `verify` off): handed
    /// on so that nothing hashes a transaction twice.
    public let txids: [Txid]?
}
