import BitcoinWire
import Foundation

/// Which checks the block pass makes besides parsing.
public struct BlockPassOptions: Sendable {
    /// Merkle root, and where Core checks them at the block's height the header version, BIP34
    /// coinbase height and witness commitment (`--no-verify` turns it off).
    public var verify = true
    /// With `verify`, the blocks whose witness commitment is checked (nil: every block). A reader
    /// to which witness bytes matter only in some blocks names those: in the others the merkle
    /// root already commits to every byte it reads, and the commitment would cost hashing each
    /// segwit transaction a second time (its wtxid).
    public var witnessCommitmentNeeded: (@Sendable (BlockView) -> Bool)?
    /// Worker threads (default: all cores).
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Run the workers this much nicer than the calling thread (nil: as nice). A consumer that is
    /// the pipeline's bottleneck (a replay applying blocks strictly in order) then keeps its core
    /// when workers it is waiting for anyway wake up; workers still take every core the consumer
    /// leaves idle, so a pass bound by parsing is as fast as before.
    public var workerNice: Int32?
    /// The nice increment a replay gives its workers (`workerNice`): enough that the scheduler
    /// gives the consumer about nine tenths of a contended core (weights 1024 against 110), not
    /// so much that any other process on the machine starves the workers.
    public static let replayWorkerNice: Int32 = 10
    /// Blocks parsed ahead of the consumer at most; bounds memory whatever the consumer's speed
    /// (with large blocks `maxBytesAhead` binds first).
    public var window = BlockPassOptions.defaultWindow
    /// Small blocks go through in batches of 64: a window of 16 batches lets a worker that
    /// finished early claim more while the batch at the head is still being parsed (a window of
    /// a few batches leaves workers idle behind it); the results it holds are a few megabytes of
    /// small blocks'.
    public static let defaultWindow = 1024

    /// A worker claims neighbouring blocks together up to about this many bytes (at least one
    /// block), and at most `maxBatchBlocks` of them.
    public static let batchBytes = 1 << 20
    public static let maxBatchBlocks = 64
    /// Block bytes handed out ahead of the consumer at most, whatever the window: with large
    /// blocks this, not the block count, bounds the mapped pages resident and the results held.
    public static let maxBytesAhead = 64 << 20

    /// Read the blocks ahead of the workers on a thread of the pass's own (`ReadAhead`), so that
    /// a cold pass keeps the disk busy while it parses.
    public var readAhead = true
    /// With `readAhead`: asked as the pass reaches each blk file, whether to read its rev file
    /// ahead too (a reader that has been needing undo data).
    public var undoWanted: (@Sendable () -> Bool)?

    public init(verify: Bool = true, threads: Int? = nil, window: Int = BlockPassOptions.defaultWindow) {
        self.verify = verify
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.window = max(1, window)
    }
}
