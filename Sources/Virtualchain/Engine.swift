import BitcoinWire
import BlockFiles
import BlockReader
import ChainIndex
import Dispatch
import Foundation

/// Why the engine refuses a state or stops a replay. The state is left at a block boundary.
public enum EngineError: Error, CustomStringConvertible, Sendable {
    /// The state directory holds another machine's state, a newer version's, another network's,
    /// or one from another first block.
    case foreignState(directory: String, found: StateStore.Meta, expected: StateStore.Meta)
    /// The stored consensus hashes have a gap (damage).
    case consensusHistoryBroken(directory: String, firstBlock: Int, foundHeight: Int, position: Int)
    /// Our tip is not on the directory's best chain (a reorganisation or missing blocks: the
    /// importer handles both; the engine alone does not).
    case tipNotOnBestChain(directory: String, tipHash: BlockHash, height: Int)
    case noBlocks(directory: String)
    /// The machine's initial consensus hashes are not below its first block, or differ from
    /// those the state was created with.
    case initialHashesRefused(directory: String, problem: String)
    /// A pruned directory starts after the block the state needs next.
    case blocksStartTooLate(directory: String, baseHeight: Int, needed: Int)
    /// Our consensus hash differs from a trusted one (`expectedConsensusHashes`): one just
    /// computed (`stored` false: that block was not applied) or one the state already holds.
    case unexpectedConsensusHash(height: Int, ours: ConsensusDigest, expected: ConsensusDigest, stored: Bool)
    /// `process(block:height:undo:)` was given a block out of order.
    case blockOutOfOrder(given: Int, expected: Int)

    public var description: String {
        switch self {
        case let .foreignState(directory, meta, expected):
            "\(directory) holds state of \(meta.machine) v\(meta.version) on \(meta.network) from block \(meta.firstBlock), not of \(expected.machine) v\(expected.version) (or older) on \(expected.network) from block \(expected.firstBlock)"
        case let .consensusHistoryBroken(directory, firstBlock, height, position):
            "\(directory): consensus hashes are not contiguous from block \(firstBlock) (found height \(height) at position \(position))"
        case let .tipNotOnBestChain(directory, tipHash, height):
            "the best chain in \(directory) does not contain our tip \(tipHash) at height \(height) (a reorganisation, or blocks missing); the state is kept unchanged"
        case let .initialHashesRefused(directory, problem):
            "\(directory): \(problem)"
        case let .noBlocks(directory):
            "no blocks in \(directory) (if its blk files are not empty, no record in them decodes with the key of its xor.dat, or with none where xor.dat is missing: check that xor.dat belongs to these files)"
        case let .blocksStartTooLate(directory, baseHeight, needed):
            "\(directory) starts at height \(baseHeight) (pruned), but the state needs block \(needed) onwards"
        case let .unexpectedConsensusHash(height, ours, expected, stored):
            stored
                ? "the state's consensus hash \(ours.hex) at height \(height) differs from the expected \(expected.hex): this state's history is not the trusted one; nothing was imported"
                : "consensus hash \(ours.hex) at height \(height) differs from the expected \(expected.hex): this state's history is not the trusted one; the state is kept at the block before"
        case let .blockOutOfOrder(given, expected):
            "block at height \(given) given, the state expects \(expected)"
        }
    }
}

/// How often `Engine.run` tells its progress at most (and at the last block): a progress line
/// needs no more, and telling it per block cost a clock read and a closure call per block.
let engineProgressIntervalNanoseconds: UInt64 = 50_000_000

/// Replays the operations of a blocks directory through a state machine, block by block, into
/// the state database.
///
/// An engine is used from one thread at a time (the replay thread: the one calling `run` or
/// `process`); it runs the block pass's workers itself. `init` throws ``EngineError`` for a state
/// of another machine, newer version, network or first block, and SQLite errors; `run` throws
/// ``EngineError`` (a state whose tip left the chain, an unexpected consensus hash), the reader's
/// errors (module `BlockReader`: `BlockPassError` for a block that does not parse or verify,
/// `SenderResolutionError` for damaged undo data, `NotYetWritten`, `CandidateReaderError` for
/// values outside the money range, each naming file and offset), and whatever the machine throws
/// other than ``Rejection``. After an
/// error the state ends at a block boundary, the block before the failure.
public final class Engine<Machine: StateMachine> {
    public let machine: Machine
    public let store: StateStore
    public let network: Network
    public private(set) var consensus: ConsensusChain

    /// Opens (or creates) the state in `stateDirectory`; a state made by another machine, version
    /// or network is refused rather than mixed.
    public init(machine: Machine, stateDirectory: String, network: Network) throws {
        self.machine = machine
        self.network = network
        store = try StateStore(directory: stateDirectory)
        let expected = StateStore.Meta(machine: Machine.identity, version: Machine.version, network: network.rawValue, firstBlock: machine.firstBlock)
        let storedMeta = try store.meta()
        if let meta = storedMeta {
            // An older version of the same machine is upgraded by its new migrations below.
            guard meta.refusal(by: expected) == nil else {
                throw EngineError.foreignState(directory: stateDirectory, found: meta, expected: expected)
            }
        }
        let initial = machine.initialConsensusHashes
        if let wrong = initial.keys.first(where: { $0 >= machine.firstBlock }) {
            throw EngineError.initialHashesRefused(directory: stateDirectory, problem: "initial consensus hash at height \(wrong), not below the first block \(machine.firstBlock)")
        }
        if storedMeta == nil {
            // Together: a state is never seen with its identity but without its initial hashes.
            let created = store
            try created.database.transaction {
                try created.setMeta(expected)
                try created.setInitialHashes(initial)
            }
        } else if try store.initialHashes() != initial {
            throw EngineError.initialHashesRefused(directory: stateDirectory, problem: "the state's initial consensus hashes differ from the machine's")
        }
        try store.migrate(machine: Machine.identity, steps: machine.migrations)
        if let meta = storedMeta, meta.version < expected.version { try store.setMeta(expected) }
        var digests: [ConsensusDigest] = []
        try store.consensusDigests { height, digest in
            guard height == machine.firstBlock + digests.count else {
                throw EngineError.consensusHistoryBroken(directory: stateDirectory, firstBlock: machine.firstBlock, foundHeight: height, position: digests.count)
            }
            digests.append(digest)
        }
        consensus = ConsensusChain(firstBlock: machine.firstBlock, digests: digests, initialDigests: initial)
    }

    /// Processes best-chain blocks after the stored tip up to `until` (or the directory's tip).
    public func run(directory: BlocksDirectory, index: ChainIndex, until: Int? = nil,
                    passOptions: BlockPassOptions = BlockPassOptions(),
                    progress: ((ReplayProgress) -> Void)? = nil,
                    afterBlock: ((_ height: Int, _ hash: BlockHash) throws -> Void)? = nil,
                    shouldStop: (() -> Bool)? = nil, waitForBitcoind: Bool = false) throws -> ReplaySummary {
        var summary = ReplaySummary(machine: Machine.identity)
        let started = Date()
        let next = consensus.nextHeight
        let storedTip = try store.tip()
        if let tip = storedTip {
            guard index.bestChainContains(tip.blockHash, atHeight: tip.height) else {
                throw EngineError.tipNotOnBestChain(directory: directory.path, tipHash: tip.blockHash, height: tip.height)
            }
        }
        try checkStoredExpectations()
        guard let chainTip = index.tipHeight else { throw EngineError.noBlocks(directory: directory.path) }
        let last = min(until ?? chainTip, chainTip)
        summary.tipHash = storedTip?.blockHash
        summary.consensusHash = consensus.last
        guard next <= last else { return summary }
        guard index.baseHeight <= next else {
            throw EngineError.blocksStartTooLate(directory: directory.path, baseHeight: index.baseHeight, needed: next)
        }
        let entries = (next...last).map { index.entryIndex(atHeight: $0)! }
        let reader: CandidateReader
        do {
            // Without undo files the reader's fallback pass reads blocks first: one bitcoind is
            // still writing is waited for here too.
            reader = try CandidateReader(directory: directory, index: index, entries: entries,
                                         filter: OperationFilter(magic: machine.magic, opcodes: machine.opcodes),
                                         withWitness: machine.readsWitnessData, passOptions: passOptions)
        } catch let waiting as NotYetWritten where waitForBitcoind {
            summary.waitingForBitcoind = waiting
            return summary
        }
        summary.usedFallback = reader.senders.usesFallbackPass
        // The newest block applied (its hex only once, at the end) and when progress was last told.
        var lastApplied: BlockHash?
        var progressToldNanoseconds: UInt64 = 0
        func tellProgress(height: Int, force: Bool) {
            guard let progress else { return }
            let now = DispatchTime.now().uptimeNanoseconds
            guard force || now - progressToldNanoseconds >= engineProgressIntervalNanoseconds else { return }
            progressToldNanoseconds = now
            progress(ReplayProgress(height: height, targetHeight: last, blocks: summary.blocks, bytes: summary.bytes,
                                    accepted: summary.accepted, seconds: Date().timeIntervalSince(started)))
        }
        do {
            try reader.run(consume: { (entry: EntryIndex, candidates: [Candidate]) in
                let record = index.entries[entry]
                let height = record.height!
                let outcome = try commitBlock(height: height, hash: record.hash, candidates: candidates)
                summary.blocks += 1
                summary.bytes += record.location.size
                summary.accepted += outcome.accepted
                summary.rejected += outcome.rejected
                summary.dropped += outcome.dropped
                for candidate in candidates where candidate.senders == .unresolved { summary.unresolved += 1 }
                summary.firstHeight = summary.firstHeight ?? height
                summary.lastHeight = height
                lastApplied = record.hash
                tellProgress(height: height, force: height == last)
                try afterBlock?(height, record.hash)
                if shouldStop?() == true { throw Interrupted() }
            })
        } catch is Interrupted {
            summary.interrupted = true
        } catch let waiting as NotYetWritten where waitForBitcoind {
            summary.waitingForBitcoind = waiting
        } catch {
            // The blocks before the failing one are whole: keep them (the state ends at a block
            // boundary, the block before the failure).
            try? commitPendingBlocks()
            throw error
        }
        try commitPendingBlocks()
        if let lastApplied { summary.tipHash = lastApplied }
        summary.consensusHash = consensus.last
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// Compares the trusted hashes of heights the state already holds with the stored ones,
    /// lowest height first; throws for the first that differs.
    public func checkStoredExpectations() throws {
        for (height, expected) in expectedConsensusHashes.sorted(by: { $0.key < $1.key }) {
            guard let stored = consensus.digest(atHeight: height) else { continue }
            if stored != expected { throw EngineError.unexpectedConsensusHash(height: height, ours: stored, expected: expected, stored: true) }
        }
    }

    /// Closes the state database (before a restore replaces it); the engine must not be used
    /// afterwards.
    public func close() { store.close() }

    /// Thrown out of the block pass when `shouldStop` asks for it, after a block boundary.
    public struct Interrupted: Error {}

    /// When blocks are committed: several per SQLite transaction (a commit costs file locks and a
    /// WAL write whatever its size), at most this many, and at least this often, so a process
    /// killed at any moment loses little work and resumes at a block boundary.
    public struct CommitPolicy: Sendable {
        public var maxBlocks = 5_000
        public var maxSeconds = 0.25
        public init(maxBlocks: Int = 5_000, maxSeconds: Double = 0.25) {
            self.maxBlocks = max(1, maxBlocks)
            self.maxSeconds = maxSeconds
        }
    }
    public var commitPolicy = CommitPolicy()

    /// Consensus hashes the caller trusts, by height (the original's `expected_snapshots`): `run`
    /// first compares those of heights the state already holds and stops, before any block, if
    /// one differs; a new block whose hash differs is not applied and the replay stops with an
    /// error (the state at the block before).
    public var expectedConsensusHashes: [Int: ConsensusDigest] = [:]

    /// What `scanBlock` is given for a block without operations.
    private let noOperations: [Machine.Operation] = []

    /// The open batch: blocks applied but not yet committed.
    private var batch: (blocks: Int, startedNanoseconds: UInt64, committedHashes: Int)?

    /// Commits the blocks applied so far (a checkpoint must only ever see committed blocks).
    public func commitPendingBlocks() throws {
        guard let open = batch else { return }
        batch = nil
        do {
            try store.commitBatch()
        } catch {
            // Nothing of the batch was kept: neither are its consensus hashes.
            store.rollBackBatch()
            consensus.truncate(toHeight: consensus.firstBlock + open.committedHashes - 1)
            throw error
        }
    }

    /// Steps 2-4 of docs/virtualchain.md, section 3 for one block: applied inside the open batch (a savepoint of
    /// its transaction, so a failing block leaves the blocks before it intact), committed with
    /// the batch.
    ///
    /// The consensus chain grows in place (no copy per block: copying it made the import
    /// quadratic in the chain's length); if the block fails, the hash appended for it is taken
    /// back.
    func commitBlock(height: Int, hash: BlockHash, candidates: [Candidate]) throws -> (accepted: Int, rejected: Int, dropped: Int) {
        var outcome = (accepted: 0, rejected: 0, dropped: 0)
        let database = store.database
        if batch == nil {
            try store.beginBatch()
            batch = (0, DispatchTime.now().uptimeNanoseconds, consensus.digests.count)
        }
        let hashesBefore = consensus.digests.count
        do {
            try database.savepoint("block") {
                var records: [(record: ConsensusRecord, vtxindex: Int?, txid: Txid?)] = []
                var counts: [String: Int] = [:]
                do {
                    // The context shares the chain's storage; it ends with this scope, before the
                    // chain is appended to, so the append never copies.
                    let context = BlockContext(height: height, blockHash: hash, database: MachineDatabase(database), consensus: consensus)
                    // Most blocks have no candidates: the machine scans an empty list made once
                    // (the original calls `db_scan_block` for every block), and they skip what
                    // follows, whose generic values (of `Machine.Operation`) cost runtime
                    // metadata lookups even empty.
                    if candidates.isEmpty {
                        try machine.scanBlock(noOperations, in: context)
                    } else {
                        try apply(candidates, in: context, records: &records, counts: &counts, outcome: &outcome)
                    }
                    for record in try machine.endOfBlock(context) { records.append((record, nil, nil)) }
                }
                let hashes = consensus.append(records: records.map(\.record))
                if !expectedConsensusHashes.isEmpty, let expected = expectedConsensusHashes[height], expected != hashes.consensusHash {
                    throw EngineError.unexpectedConsensusHash(height: height, ours: hashes.consensusHash, expected: expected, stored: false)
                }
                try store.appendBlock(StateStore.BlockRow(height: height, blockHash: hash, opsHash: hashes.opsHash, consensusHash: hashes.consensusHash,
                                                          accepted: outcome.accepted, rejected: outcome.rejected),
                                      records: records.map { StateStore.RecordRow(vtxindex: $0.vtxindex, txid: $0.txid,
                                                                                   opcode: Self.opcodeName($0.record.opcode), serialized: $0.record.serialized) },
                                      counts: counts)
            }
        } catch {
            consensus.truncate(toHeight: consensus.firstBlock + hashesBefore - 1)
            throw error
        }
        batch!.blocks += 1
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - batch!.startedNanoseconds) / 1e9
        if batch!.blocks >= commitPolicy.maxBlocks || elapsed >= commitPolicy.maxSeconds { try commitPendingBlocks() }
        return outcome
    }

    /// Step 2 of docs/virtualchain.md, section 3 for a block's candidates: parse each, scan the block's
    /// operations, then check and commit each (a rejection undoes whatever it wrote).
    private func apply(_ candidates: [Candidate], in context: BlockContext,
                       records: inout [(record: ConsensusRecord, vtxindex: Int?, txid: Txid?)],
                       counts: inout [String: Int], outcome: inout (accepted: Int, rejected: Int, dropped: Int)) throws {
        let database = store.database
        var operations: [(operation: Machine.Operation, candidate: Candidate)] = []
        operations.reserveCapacity(candidates.count)
        for candidate in candidates {
            guard let operation = machine.parse(candidate) else {
                counts["dropped", default: 0] += 1
                outcome.dropped += 1
                continue
            }
            operations.append((operation, candidate))
        }
        try machine.scanBlock(operations.map(\.operation), in: context)
        for (operation, candidate) in operations {
            do {
                // A rejection undoes whatever check or commit wrote: no half-applied operation.
                let committed = try database.savepoint {
                    try machine.check(operation, in: context)
                    return try machine.commit(operation, in: context)
                }
                for record in committed { records.append((record, candidate.vtxindex, candidate.txid)) }
                counts["accepted:" + Self.opcodeName(candidate.opcode), default: 0] += 1
                outcome.accepted += 1
            } catch let rejection as Rejection {
                counts["rejected:" + rejection.reason, default: 0] += 1
                outcome.rejected += 1
            }
        }
    }

    static func opcodeName(_ opcode: UInt8) -> String {
        opcode > 0x20 && opcode < 0x7f ? String(UnicodeScalar(opcode)) : "0x" + Hex.encode([opcode])
    }

    /// Processes one block given in full with its undo data (`CBlockUndo` bytes), exactly as
    /// `run` would: for generators and tools that build blocks in memory.
    @discardableResult
    public func process(block bytes: [UInt8], height: Int, undo: [UInt8]) throws -> (accepted: Int, rejected: Int, dropped: Int) {
        guard height == consensus.nextHeight else { throw EngineError.blockOutOfOrder(given: height, expected: consensus.nextHeight) }
        let candidates = try bytes.withUnsafeBytes { raw throws -> [Candidate] in
            let view = try BlockView.parse(raw)
            let spent = SpentCoins(all: try undo.withUnsafeBytes { try UndoFormat.decodeBlockUndo($0) })
            return try CandidateExtraction.candidates(in: view, height: height, hash: view.hash,
                                                      filter: OperationFilter(magic: machine.magic, opcodes: machine.opcodes),
                                                      withWitness: machine.readsWitnessData, spent: spent, fallback: [:])
        }
        let hash = bytes.withUnsafeBytes { BlockHeader.hash(of: $0.baseAddress!) }
        let outcome = try commitBlock(height: height, hash: hash, candidates: candidates)
        try commitPendingBlocks()
        return outcome
    }
}
