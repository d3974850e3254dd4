import BitcoinWire
import BlockReader

/// Where a replay (`Engine.run`) stands, told at most every 50 ms and at its last block.
public struct ReplayProgress: Sendable {
    /// The height just applied, and the last one this run will apply.
    public var height: Int
    public var targetHeight: Int
    /// Blocks applied by this run, their bytes, and the operations accepted.
    public var blocks: Int
    public var bytes: Int
    public var accepted: Int
    public var seconds: Double
}

/// What one replay (`Engine.run`) did: the heights it applied, the operations accepted, rejected
/// and dropped, and where it left the state.
public struct ReplaySummary: Sendable {
    public var machine: String
    /// The first and last heights applied (nil: none, the state was already at the tip).
    public var firstHeight: Int?
    public var lastHeight: Int?
    public var blocks = 0
    /// Bytes of the blocks applied.
    public var bytes = 0
    public var accepted = 0
    public var rejected = 0
    /// Candidates the machine's `parse` did not take.
    public var dropped = 0
    /// Candidates whose senders could not be resolved (see `Candidate.senders`).
    public var unresolved = 0
    public var seconds = 0.0
    /// Senders came from a pass over the chain, not from undo files (a directory without them).
    public var usedFallback = false
    /// Stopped on request at a block boundary before the last block.
    public var interrupted = false
    /// Stopped at the block before one whose undo record bitcoind has not written yet (only when
    /// `run` was asked to wait for it, as follow mode does); the next run resumes there.
    public var waitingForBitcoind: NotYetWritten?
    /// The newest block the state holds after the run, and its consensus hash.
    public var tipHash: BlockHash?
    public var consensusHash: ConsensusDigest?
}
