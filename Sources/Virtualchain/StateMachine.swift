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
public struct Candidate: Sendable {
    public var height: Int
    public var blockHash: Hash256
    public var txid: Hash256
    public var vtxindex: Int
    public var opcode: UInt8
    public var payload: [UInt8]
    public var outputs: [TxOut]
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

    /// Turns a candidate into an operation, or nil to drop it (malformed).
    func parse(_ candidate: Candidate) -> Operation?
    /// Throws a `Rejection` if the operation is not valid against the state as it stands
    /// (including operations of this block accepted before it).
    func check(_ operation: Operation, in block: BlockContext) throws
    /// Applies the operation and returns its consensus record.
    func commit(_ operation: Operation, in block: BlockContext) throws -> ConsensusRecord
    /// Records the block adds by itself (expirations, say). Default: none.
    func endOfBlock(_ block: BlockContext) throws -> [ConsensusRecord]
}

extension StateMachine {
    public func endOfBlock(_ block: BlockContext) throws -> [ConsensusRecord] { [] }
}
