import BitcoinWire
import BlockFiles
import BlockReader
import ChainIndex
import Checkpoints
import ConsensusHashing
import Foundation
import Virtualchain

public struct ImporterOptions: Sendable {
    /// Write a checkpoint every this many blocks (and of the tip at the end of a run that replayed
    /// this many, or ends this far past the newest checkpoint)...
    public var checkpointEvery = 1_000
    /// ...unless checkpoints would then take more than this share of the import's time: a
    /// checkpoint is deferred until the previous one's cost is at most this share of the time
    /// since it (nil: never deferred, every `checkpointEvery` blocks exactly).
    public var checkpointShare: Double? = ImporterOptions.defaultCheckpointShare
    /// 5 %: the import spends at most about a twentieth of its time on checkpoints.
    public static let defaultCheckpointShare = 0.05
    /// Trusted consensus hashes by height (`--expect`): the replay stops before a block whose
    /// hash differs, as the original's `expected_snapshots`.
    public var expectedConsensusHashes: [Int: ConsensusDigest] = [:]
    public var retention = CheckpointStore.Retention()
    public var until: Int?
    /// Only blocks with at least this many confirmations are processed (follow mode).
    public var confirmations = 0
    public var passOptions = BlockPassOptions()
    /// Faults the tests inject into checkpoint writes (a full disk, a pause to kill the writer
    /// in); `package` access, so never set by a user or from the environment.
    package var checkpointFaults = WriteFaults.none

    public init() {}
}

public struct ImportReport: Sendable {
    public var summary: ReplaySummary
    /// Things the user should know: restores, damaged checkpoints skipped, rollbacks.
    public var notes: [String] = []
    public var restoredFrom: CheckpointHeader?
    public var reorganisation: (depth: Int, forkHeight: Int, oldTip: Int)?
    public var checkpoints = CheckpointStats()
}

/// Imports with checkpoints: locks the state directory, restores a checkpoint where the state is
/// missing or damaged, rolls back across a reorganisation, replays, and checkpoints as it goes.
///
/// `init` takes the directory's lock (throws ``ImporterError`` if another process holds it);
/// `run` is called from one thread at a time, the replay thread, where the machine runs;
/// checkpoints are compressed and written on a background queue. `run` throws
/// ``ImporterError`` (a state or checkpoint that cannot be read, a state the blocks cannot
/// rebuild, blocks missing at our tip, a checkpoint that could not be written) and everything
/// `Engine.run` throws; the state is never left between blocks and never deleted.
public final class Importer<Machine: StateMachine> {
    public let machine: Machine
    public let stateDirectory: String
    public let network: Network
    public let options: ImporterOptions
    public let checkpoints: CheckpointStore
    private let lock: StateLock

    var liveState: StateDatabaseFile { StateDatabaseFile(stateDirectory: stateDirectory) }
    var statePath: String { liveState.path }
    var pendingRestorePath: String { statePath + ".restore" }
    /// Where a checkpoint is restored to be checked against its header, before it becomes the
    /// pending restore.
    var restoreCheckPath: String { pendingRestorePath + ".check" }

    public init(machine: Machine, stateDirectory: String, network: Network, options: ImporterOptions = ImporterOptions()) throws {
        self.machine = machine
        self.stateDirectory = stateDirectory
        self.network = network
        self.options = options
        lock = try StateLock(directory: stateDirectory)
        checkpoints = CheckpointStore(stateDirectory: stateDirectory)
        // Refused before any work: every run would replay and then fail to put its index there.
        let indexPath = HeaderIndexStore(stateDirectory: stateDirectory).path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: indexPath, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ImporterError.headerIndexIsADirectory(path: indexPath)
        }
        // A state of another machine, network or first block (or a newer version's) is refused
        // here, before any header pass could rewrite the directory's index: a refused command
        // changes nothing. (A state that cannot be read is the run's business: it restores.)
        let expected = StateStore.Meta(machine: Machine.identity, version: Machine.version, network: network.rawValue, firstBlock: machine.firstBlock)
        if FileManager.default.fileExists(atPath: stateDirectory + "/" + StateStore.fileName),
           let store = try? StateStore.openForReading(directory: stateDirectory) {
            let meta = try? store.meta()
            store.close()
            if let found = meta ?? nil, found.refusal(by: expected) != nil {
                throw EngineError.foreignState(directory: stateDirectory, found: found, expected: expected)
            }
        }
    }

    /// Whether a checkpoint header belongs to this machine, version, network and first block.
    func objection(to header: CheckpointHeader) -> String? {
        // An older version's checkpoint is upgraded by the machine's new migrations once restored.
        StateStore.Meta(machine: header.machine, version: header.machineVersion, network: header.network, firstBlock: header.firstBlock)
            .refusal(by: StateStore.Meta(machine: Machine.identity, version: Machine.version, network: network.rawValue, firstBlock: machine.firstBlock))
    }

    /// The engine a follow keeps open between looks: the state was checked and its consensus
    /// hashes loaded once, so a look that finds one new block costs that block, not the chain.
    private var keptEngine: Engine<Machine>?

    /// Imports what `directory` holds (as `index` orders it) into the state.
    ///
    /// `checkpointAtEnd` writes a checkpoint of the final tip, where that is worth its cost (a
    /// whole image of the state): when this run replayed at least `checkpointEvery` blocks, or
    /// the newest checkpoint is that far behind. A run that adds a few blocks to a long chain
    /// (a daily `import`) leaves it to the next `checkpointEvery` boundary; a restore then
    /// replays fewer than `checkpointEvery` blocks. A follow's looks skip it (their checkpoints
    /// come every `checkpointEvery` blocks, and one when the follow ends). `keepOpen` keeps the
    /// state open for the next `run` (a follow), which then skips the checks and loading a fresh
    /// start does.
    public func run(directory: BlocksDirectory, index: ChainIndex, progress: ((ReplayProgress) -> Void)? = nil,
                    shouldStop: (() -> Bool)? = nil, checkpointAtEnd: Bool = true, keepOpen: Bool = false) throws -> ImportReport {
        var notes: [String] = []
        var restored: CheckpointHeader?
        let kept = keptEngine
        keptEngine = nil  // until this run completes
        if kept == nil {
            try completePendingRestore()
            checkpoints.removeLeftovers()
            removeRestoreLeftovers()
        }

        // 1. The live state, or the newest checkpoint that verifies.
        let fm = FileManager.default
        var needRestore = false
        if kept != nil {
            // Ours since the last run, which left it at a block boundary.
        } else if fm.fileExists(atPath: statePath) {
            if let problem = try liveState.damage() {
                let aside = StateDatabaseFile(path: statePath + ".damaged-\(Int(Date().timeIntervalSince1970))")
                try liveState.move(to: aside)
                notes.append("the state database is damaged (\(problem)); moved to \(aside)")
                needRestore = true
            }
        } else if try !checkpoints.paths().isEmpty {
            notes.append("no state database in \(stateDirectory)")
            needRestore = true
        }
        if needRestore {
            restored = try restoreNewest(notes: &notes, index: index) { _ in nil }
        }

        // 2. A reorganisation: our tip is no longer on the best chain.
        var engine: Engine<Machine>? = try kept ?? Engine(machine: machine, stateDirectory: stateDirectory, network: network)
        var reorg: (depth: Int, forkHeight: Int, oldTip: Int)?
        if let tip = try engine!.store.tip(), !index.bestChainContains(tip.blockHash, atHeight: tip.height) {
            let fork = try Self.forkHeight(store: engine!.store, index: index)
            guard let fork, fork >= index.baseHeight else {
                throw ImporterError.chainLost(directory: directory.path, tipHash: tip.blockHash, height: tip.height)
            }
            // A directory that merely lost or damaged our newest blocks is not a reorganisation: only
            // a competing branch with more work replaces ours. Where our tip block is still there
            // (now stale), compare work; where it is gone, the new branch must at least be longer.
            let moreWork: Bool
            if let ours = index.entry(for: tip.blockHash), ours.height != nil {
                moreWork = index.bestWork > ours.cumulativeWork
            } else {
                moreWork = (index.tipHeight ?? -1) > tip.height
            }
            guard moreWork else {
                throw ImporterError.notMoreWork(directory: directory.path, tipHash: tip.blockHash, height: tip.height, bestHeight: index.tipHeight ?? -1)
            }
            engine!.close()
            engine = nil  // the live database is about to be replaced
            let base = try restoreNewest(notes: &notes, index: index, replacingLiveState: true) { header in
                header.height <= fork ? nil : "above the fork point \(fork)"
            }
            if base == nil {
                notes.append("no checkpoint at or below the fork point \(fork): replaying from scratch (the old state is kept aside until the replay completes)")
            }
            engine = try Engine(machine: machine, stateDirectory: stateDirectory, network: network)
            reorg = (tip.height - fork, fork, tip.height)
            notes.append("reorganisation: our tip \(tip.height) left the best chain, fork point \(fork) (depth \(tip.height - fork)); restored \(base.map { "checkpoint at \($0.height)" } ?? "nothing") and replaying the new branch")
            restored = base
        }

        // 3. Replay, checkpointing as we go.
        let writer = CheckpointWriter(store: checkpoints, retention: options.retention,
                                      faults: options.checkpointFaults)
        let every = max(1, options.checkpointEvery)
        let firstBlock = machine.firstBlock
        var until = options.until
        if options.confirmations > 0, let tip = index.tipHeight {
            until = min(until ?? Int.max, tip - options.confirmations + 1)
        }
        let current = engine!
        // A checkpoint in flight reads the database file: the state stays open (closing it
        // checkpoints SQLite's log into that file) until the write is done, whatever happens.
        defer {
            try? writer.waitForWrite()
            withExtendedLifetime(current) {}
        }
        current.expectedConsensusHashes = options.expectedConsensusHashes
        writer.assumeCost(stateBytes: try current.store.byteSize())
        let summary = try current.run(directory: directory, index: index, until: until, passOptions: options.passOptions,
                                      progress: progress, afterBlock: { height, hash in
            try writer.releaseSnapshotIfWritten()
            if try (height - firstBlock + 1) % every == 0 && writer.isDue(share: self.options.checkpointShare, stateBytes: current.store.byteSize()) {
                try current.commitPendingBlocks()  // a checkpoint holds committed blocks only
                // The block was just hashed: the chain has its consensus hash.
                let consensusHash = current.consensus.digest(atHeight: height)!
                try writer.checkpoint(state: current.store) { size in self.header(height: height, hash: hash, consensusHash: consensusHash, size: size) }
            }
        }, shouldStop: shouldStop, waitForBitcoind: options.confirmations > 0)
        if let waiting = summary.waitingForBitcoind {
            notes.append("\(waiting.description); waiting for it")
        }
        if checkpointAtEnd, let tip = try current.store.tip() {
            let every = max(1, options.checkpointEvery)
            // The newest checkpoint: on disk, or this run's own still being written.
            let newest = [try checkpoints.newestHeight(), writer.lastHeight].compactMap { $0 }.max()
            let behind = newest.map { tip.height - $0 } ?? Int.max
            if summary.blocks >= every || behind >= every { try checkpointTip(of: current, writer: writer) }
        }
        let stats = try writer.finish()
        if !summary.interrupted, let replaced = replacedState {
            // Its replacement is complete: the state the reorganisation left behind can go.
            try? replaced.remove()
            notes.append("the replay from scratch completed; removed the replaced state \(replaced)")
            replacedState = nil
        }
        if keepOpen { keptEngine = current }
        return ImportReport(summary: summary, notes: notes, restoredFrom: restored, reorganisation: reorg, checkpoints: stats)
    }

    /// Checkpoints the tip of the state a follow kept open, unless a checkpoint of it exists
    /// (the end of a follow); then closes the state.
    public func finishFollowing() throws -> CheckpointStats? {
        guard let engine = keptEngine else { return nil }
        keptEngine = nil
        let writer = CheckpointWriter(store: checkpoints, retention: options.retention,
                                      faults: options.checkpointFaults)
        defer {
            try? writer.waitForWrite()
            engine.close()
        }
        try checkpointTip(of: engine, writer: writer)
        return try writer.finish()
    }

    /// Writes a checkpoint of `engine`'s tip unless there is one.
    private func checkpointTip(of engine: Engine<Machine>, writer: CheckpointWriter) throws {
        guard let tip = try engine.store.tip(), writer.lastHeight != tip.height,
              try !checkpoints.paths().contains(checkpoints.directory + "/" + CheckpointStore.fileName(height: tip.height)) else { return }
        // Nothing runs beside it (the replay is over): it may take every core the pass may.
        try writer.checkpoint(state: engine.store, threads: options.passOptions.threads) { size in
            self.header(height: tip.height, hash: tip.blockHash, consensusHash: tip.consensusHash, size: size)
        }
    }

    private func header(height: Int, hash: BlockHash, consensusHash: ConsensusDigest, size: Int) -> CheckpointHeader {
        CheckpointHeader(machine: Machine.identity, machineVersion: Machine.version, network: network.rawValue, firstBlock: machine.firstBlock,
                         height: height, blockHash: hash, consensusHash: consensusHash,
                         payloadSHA256: "", payloadBytes: size)
    }

    // MARK: - State file handling

    /// The highest height where our stored block is on the directory's best chain: where our tip
    /// is still in the tree, the fork point of the two tips; where it is gone, found by walking
    /// our stored blocks down.
    static func forkHeight(store: StateStore, index: ChainIndex) throws -> Int? {
        if let tip = try store.tip(), let best = index.tip,
           let fork = index.forkPoint(between: tip.blockHash, and: best.hash), let height = fork.height,
           try store.block(atHeight: height)?.blockHash == fork.hash {
            return height
        }
        var found: Int?
        try store.blocksNewestFirst { row in
            guard index.bestChainContains(row.blockHash, atHeight: row.height) else { return true }
            found = row.height
            return false
        }
        return found
    }

    /// Restores the newest usable checkpoint (also on the best chain, and one the directory holds
    /// the blocks after) into the live state. A checkpoint whose database image disagrees with its
    /// header is skipped like any damaged one. With none usable, the replay will start from
    /// scratch, which the directory must allow (it holds the machine's first block); the live
    /// state, if `replacingLiveState`, is then moved aside, never deleted, until that replay completes.
    private func restoreNewest(notes: inout [String], index: ChainIndex, replacingLiveState: Bool = false,
                               extra: (CheckpointHeader) -> String?) throws -> CheckpointHeader? {
        var refused: [String: String] = [:]
        // The image is decoded straight into this file, then checked against its header.
        let check = restoreCheckPath
        while true {
            let (found, skipped) = try checkpoints.newestUsable(excluding: Set(refused.keys), restoringTo: check) { header in
                if let objection = self.objection(to: header) { return objection }
                if let reason = extra(header) { return reason }
                if !index.bestChainContains(header.blockHash, atHeight: header.height) { return "its block is not on the best chain" }
                if header.height + 1 < index.baseHeight {
                    return "the blocks directory starts at height \(index.baseHeight), after this checkpoint's next block \(header.height + 1)"
                }
                return nil
            }
            for entry in skipped { notes.append("checkpoint \(entry.path) skipped: \(entry.problem ?? "unusable")") }
            guard let found, let header = found.header else {
                guard index.baseHeight <= machine.firstBlock else {
                    throw ImporterError.cannotRebuild(baseHeight: index.baseHeight, firstBlock: machine.firstBlock)
                }
                notes.append("no usable checkpoint: replaying from scratch")
                if replacingLiveState { try setLiveStateAside() } else { try liveState.remove() }
                return nil
            }
            // The image must be what the header says it is: machine, network, tip.
            let mismatch = imageMismatch(at: check, header: header)
            if let mismatch {
                try? FileManager.default.removeItem(atPath: check)
                refused[found.path] = mismatch
                notes.append("checkpoint \(found.path) skipped: \(mismatch)")
                continue
            }
            try FileManager.default.moveItem(atPath: check, toPath: pendingRestorePath)
            try completePendingRestore()
            notes.append("restored the checkpoint at height \(header.height) (\(found.path))")
            return header
        }
    }

    /// How a checkpoint's database image contradicts its header, if it does.
    private func imageMismatch(at path: String, header: CheckpointHeader) -> String? {
        let described: (meta: StateStore.Meta?, tip: StateStore.BlockRow?)
        do {
            described = try StateStore.describe(databaseAt: path)
        } catch {
            return "its database image cannot be read (\(error))"
        }
        let expected = StateStore.Meta(machine: header.machine, version: header.machineVersion, network: header.network, firstBlock: header.firstBlock)
        guard let meta = described.meta, meta == expected else {
            return "its database image belongs to \(described.meta.map { "\($0.machine) v\($0.version) on \($0.network) from block \($0.firstBlock)" } ?? "no machine"), not to what its header says"
        }
        guard let tip = described.tip, tip.height == header.height, tip.blockHash == header.blockHash, tip.consensusHash == header.consensusHash else {
            return "its database image ends at \(described.tip.map { "height \($0.height), block \($0.blockHash), consensus hash \($0.consensusHash)" } ?? "no block"), not at its header's height \(header.height), block \(header.blockHash), consensus hash \(header.consensusHash)"
        }
        return nil
    }

    /// The state a reorganisation replaces with a replay from scratch, kept until that completes.
    private var replacedState: StateDatabaseFile?

    private func setLiveStateAside() throws {
        guard liveState.exists else { return }
        let aside = StateDatabaseFile(path: statePath + ".replaced-\(Int(Date().timeIntervalSince1970))")
        try liveState.move(to: aside)
        replacedState = aside
    }

    /// Deletes what a restore killed before it was complete leaves: the image being decoded (its
    /// temporary file) or decoded but not yet checked. Either is as large as the state, and the
    /// next restore, if one is needed, decodes the checkpoint again.
    private func removeRestoreLeftovers() {
        // SQLite's log and shared-memory files of the image being checked go with it.
        for image in [restoreCheckPath, AtomicFile.temporaryPath(for: restoreCheckPath)] { try? StateDatabaseFile(path: image).remove() }
    }

    /// Finishes a restore a crash interrupted: the restored image replaces the live database.
    private func completePendingRestore() throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: pendingRestorePath) else { return }
        try liveState.remove()
        try fm.moveItem(atPath: pendingRestorePath, toPath: statePath)
    }

}
