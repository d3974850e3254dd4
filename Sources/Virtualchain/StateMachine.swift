import BitcoinWire
import BlockReader
@_exported import struct Proofs.RecordPositionFields

// What a machine is handed comes from the reader side (BlockReader); the names are repeated
// here so that a machine needs `import Virtualchain` only.

/// A transaction carrying the machine's magic and a known opcode; see `BlockReader.Candidate`.
public typealias Candidate = BlockReader.Candidate
/// The spent output behind one input; see `BlockReader.Sender`.
public typealias Sender = BlockReader.Sender
/// One sender per input, or unresolved; see `BlockReader.Senders`.
public typealias Senders = BlockReader.Senders

/// Why an operation was not accepted; counted per reason in the state database.
public struct Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The block being processed, as a state machine sees it while scanning, checking and committing.
///
/// Valid only during the call it is passed to (`scanBlock`, `check`, `commit`, `endOfBlock`), on
/// the replay thread; do not keep it.
public struct BlockContext {
    public let height: Int
    public let blockHash: BlockHash
    /// The machine's state: read it anywhere, change it in `commit` and `endOfBlock` (and in
    /// `scanBlock` if the machine must); all of a block's changes are committed together with its
    /// consensus hash, and an operation's only if it is accepted.
    public let database: MachineDatabase
    let consensus: ConsensusChain

    /// Fork*-consistency: whether `hash` (16 raw bytes) is one of this node's consensus hashes of
    /// the `window` blocks before this one.
    public func isRecentConsensusHash(_ hash: [UInt8], window: Int) -> Bool {
        consensus.isRecent(hash, before: height, window: window)
    }
}

/// A deterministic state machine fed by operations embedded in Bitcoin transactions.
///
/// The engine calls, for each block from `firstBlock` up, in height order:
/// `parse` for every candidate; `scanBlock` with all the block's parsed operations; `check` then
/// (if it passes) `commit` for each operation in vtxindex order; `endOfBlock`; then it hashes the
/// records and commits the block atomically. Keep all state in the database (tables created by
/// `migrations`): it is what checkpoints and crash recovery restore.
///
/// ## Versions and migrations
/// `version` names the rules; `migrations` build the tables, each step run once per state, in
/// order. A new version of a machine appends steps (never edits old ones): opening a state
/// written by an older version runs the new steps and records the new version; a state written
/// by a newer version is refused, and so is one whose applied steps differ from the machine's
/// (each is recorded with the SHA-256 of its SQL). Checkpoints of older versions restore the
/// same way.
///
/// ## Threads
/// Every method is called on the one replay thread (the thread that called `Engine.run` or
/// `Importer.run`), never concurrently: a machine needs no locks. Parsing of blocks happens on
/// worker threads before, in the engine; the machine only sees finished candidates.
///
/// ## Errors
/// `check` and `commit` throw ``Rejection`` to refuse an operation: it is counted under its
/// reason, and everything `check` and `commit` wrote for it is rolled back (each operation runs in
/// a savepoint). Any other error stops the replay: the block is not applied, the state stays at
/// the block before, and `run` rethrows it.
public protocol StateMachine {
    associatedtype Operation

    /// A stable name (stored in the state and in checkpoints) and the version of its rules.
    static var identity: String { get }
    static var version: Int { get }

    /// The prefix of the OP_RETURN data this machine reads (e.g. `id`).
    var magic: [UInt8] { get }
    /// The first block whose operations count; consensus hashes start here.
    var firstBlock: Int { get }
    /// Opcodes the machine knows; other transactions are dropped before `parse`.
    var opcodes: Set<UInt8> { get }
    /// SQL run once each, in order, to create and evolve the machine's tables (not named `vc_*`).
    var migrations: [String] { get }
    /// Consensus hashes for heights below `firstBlock` (the original's `get_initial_snapshots`;
    /// Blockstack's mainnet has four). Stored when the state is created and shown by `export`;
    /// operations may cite them (``BlockContext/isRecentConsensusHash(_:window:)``), but, as in the
    /// original, the skip list never reaches below the first block, so they do not enter the first
    /// blocks' consensus hashes. Default: none.
    var initialConsensusHashes: [Int: ConsensusDigest] { get }
    /// Where the machine's consensus records carry the block's height and the transaction's
    /// vtxindex, if they do: a light-client proof of such a record binds its height without a
    /// Bitcoin part (docs/proofs.md, step 6). Default: nil.
    var recordPositionFields: RecordPositionFields? { get }
    /// Whether the machine reads its candidates' witness data (the `witness` of `Candidate.inputs`).
    /// Default true: candidates carry it, and a block with a candidate has its witness
    /// commitment checked. A machine that reads none says false: its candidates' inputs carry no
    /// witness, and no commitment is checked for it (none protects a byte it is given; the merkle
    /// root, which covers them all, still is). Saves hashing every witness transaction twice.
    var readsWitnessData: Bool { get }

    /// Turns a candidate into an operation, or nil to drop it (malformed: counted as dropped).
    /// Must not throw or look at the state: it sees the candidate only.
    func parse(_ candidate: Candidate) -> Operation?
    /// A look at all of a block's operations, in vtxindex order, before any is checked (the
    /// original's `db_scan_block`): to find operations of one block that collide, say. Called for
    /// every block, with an empty list where the block has none. Default: nothing. An error stops
    /// the replay with the state at the block before.
    func scanBlock(_ operations: [Operation], in block: BlockContext) throws
    /// Throws a ``Rejection`` if the operation is not valid against the state as it stands
    /// (including operations of this block accepted before it). Other errors stop the replay.
    func check(_ operation: Operation, in block: BlockContext) throws
    /// Applies the operation and returns its consensus records: usually one, possibly none or
    /// several. A ``Rejection`` thrown here undoes what `check` and `commit` wrote; other errors
    /// stop the replay.
    func commit(_ operation: Operation, in block: BlockContext) throws -> [ConsensusRecord]
    /// Records the block adds by itself (expirations, say). Default: none. An error stops the
    /// replay with the state at the block before.
    func endOfBlock(_ block: BlockContext) throws -> [ConsensusRecord]
}

extension StateMachine {
    public var initialConsensusHashes: [Int: ConsensusDigest] { [:] }
    public var recordPositionFields: RecordPositionFields? { nil }
    public var readsWitnessData: Bool { true }
    public func scanBlock(_ operations: [Operation], in block: BlockContext) throws {}
    public func endOfBlock(_ block: BlockContext) throws -> [ConsensusRecord] { [] }
}
