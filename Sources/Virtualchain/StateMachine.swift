import BitcoinWire

/// The spent output behind one input of an operation's transaction.
public struct Sender: Hashable, Sendable {
    public var scriptPubKey: [UInt8]
    public var value: Int64
    public init(scriptPubKey: [UInt8], value: Int64) { self.scriptPubKey = scriptPubKey; self.value = value }
}

/// Who paid for a transaction: one sender per input, or unknown where previous outputs could not
/// be resolved (no undo data, and the fallback pass did not find them).
public enum Senders: Hashable, Sendable {
    case resolved([Sender])
    case unresolved

    public var first: Sender? {
        if case let .resolved(senders) = self { return senders.first }
        return nil
    }
}

/// A transaction that carries the machine's magic and a known opcode (spec section 2), with
/// everything a state machine may look at.
///
/// Candidates are built on the block pass's worker threads and handed to the machine on the
/// replay thread, in vtxindex order; they are values and may be kept.
public struct Candidate: Sendable {
    /// Height of the block holding the transaction.
    public var height: Int
    public var blockHash: Hash256
    public var txid: Hash256
    /// Position of the transaction in its block (0 is the coinbase).
    public var vtxindex: Int
    /// The byte after the magic.
    public var opcode: UInt8
    /// The bytes after the opcode.
    public var payload: [UInt8]
    /// Every output of the transaction, the `OP_RETURN` one included; each value and their sum
    /// lie within 0...21,000,000 BTC.
    public var outputs: [TxOut]
    /// The outputs the transaction's inputs spent, from Bitcoin Core's undo files (or the
    /// fallback pass), or `.unresolved`.
    public var senders: Senders
    /// Sum of spent values minus sum of output values; nil when senders are unresolved.
    public var fee: Int64?

    public init(height: Int, blockHash: Hash256, txid: Hash256, vtxindex: Int, opcode: UInt8, payload: [UInt8],
                outputs: [TxOut], senders: Senders, fee: Int64?) {
        self.height = height
        self.blockHash = blockHash
        self.txid = txid
        self.vtxindex = vtxindex
        self.opcode = opcode
        self.payload = payload
        self.outputs = outputs
        self.senders = senders
        self.fee = fee
    }
}

/// Why an operation was not accepted; counted per reason in the state database.
public struct Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The block being processed, as a state machine sees it while checking and committing.
///
/// Valid only during the call it is passed to (`check`, `commit`, `endOfBlock`), on the replay
/// thread; do not keep it.
public struct BlockContext {
    public let height: Int
    public let blockHash: Hash256
    /// The machine's state: read it in `check`, change it in `commit` and `endOfBlock`; all of a
    /// block's changes are committed together with its consensus hash.
    public let database: SQLiteDatabase
    let consensus: ConsensusChain

    /// Fork*-consistency: whether `hash` (16 raw bytes) is one of this node's consensus hashes of
    /// the `window` blocks before this one.
    public func isRecentConsensusHash(_ hash: [UInt8], window: Int) -> Bool {
        consensus.isRecent(hash, before: height, window: window)
    }

    /// This node's consensus hash at `height` (hex), if it has one.
    public func consensusHash(atHeight height: Int) -> String? { consensus.hash(atHeight: height) }
}

/// A deterministic state machine fed by operations embedded in Bitcoin transactions.
///
/// The engine calls, for each block from `firstBlock` up, in height order:
/// `parse` for every candidate; `check` then (if it passes) `commit` for each parsed operation in
/// vtxindex order; `endOfBlock`; then it hashes the records and commits the block atomically.
/// Keep all state in the database (tables created by `migrations`): it is what checkpoints and
/// crash recovery restore.
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
    /// SQL run once each, in order, to create and evolve the machine's tables.
    var migrations: [String] { get }

    /// Turns a candidate into an operation, or nil to drop it (malformed: counted as dropped).
    /// Must not throw or look at the state: it sees the candidate only.
    func parse(_ candidate: Candidate) -> Operation?
    /// Throws a ``Rejection`` if the operation is not valid against the state as it stands
    /// (including operations of this block accepted before it). Other errors stop the replay.
    func check(_ operation: Operation, in block: BlockContext) throws
    /// Applies the operation and returns its consensus record. A ``Rejection`` thrown here
    /// undoes what `check` and `commit` wrote; other errors stop the replay.
    func commit(_ operation: Operation, in block: BlockContext) throws -> ConsensusRecord
    /// Records the block adds by itself (expirations, say). Default: none. An error stops the
    /// replay with the state at the block before.
    func endOfBlock(_ block: BlockContext) throws -> [ConsensusRecord]
}

extension StateMachine {
    public func endOfBlock(_ block: BlockContext) throws -> [ConsensusRecord] { [] }
}
