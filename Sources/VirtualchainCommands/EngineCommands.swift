import ArgumentParser
import BitcoinWire
import BlockFiles
import BlockReader
import ChainIndex
import Foundation
import Checkpoints
import Importer
import Proofs
import Virtualchain

/// Type-erased importer, so the command line can pick the machine at run time.
protocol ImportRunning {
    func follow(_ source: ChainSource, follow: Bool, pollInterval: Double, stop: StopSignal, progress: ((ReplayProgress) -> Void)?,
                indexed: (ChainIndex, _ isFirst: Bool) -> Void, reported: (ImportReport, _ isFirst: Bool) throws -> Void) throws
}

extension Importer: ImportRunning {}

/// A state machine the command line can run, under a name for `--machine`, built for the network
/// a command names (a machine's first block may depend on it).
public struct MachineRegistration: Sendable {
    public let name: String
    let makeImporter: @Sendable (_ network: Network, _ state: String, _ options: ImporterOptions) throws -> any ImportRunning
    /// `Importer.rebuild` for this machine.
    let rebuild: @Sendable (_ network: Network, _ state: String, _ options: ImporterOptions,
                            _ replay: (any ImportRunning) throws -> ImportReport) throws -> ImportReport
    /// The machine's magic on a network (what `verify-proof` checks a transaction against).
    let magic: @Sendable (_ network: Network) -> [UInt8]
    /// The name the machine stores in its states (`StateMachine.identity`), its rules' version,
    /// its first block on a network, and where its records carry height and vtxindex.
    let identity: String
    let version: Int
    let firstBlock: @Sendable (_ network: Network) -> Int
    let recordFields: RecordPositionFields?
    /// One import of `directory` into a new state in `scratch` through an `Importer` (as
    /// `import` runs, checkpoints included): `bench`'s import phase.
    let importOnce: @Sendable (_ network: Network, _ scratch: String, _ directory: BlocksDirectory, _ index: ChainIndex,
                               _ options: ImporterOptions) throws -> Void
    /// Replays `directory`'s best chain up to `until` into a new state in `scratch` (no
    /// checkpoints, no header index kept): what `verify --replay` compares a state with.
    let replay: @Sendable (_ network: Network, _ scratch: String, _ directory: BlocksDirectory, _ index: ChainIndex, _ until: Int,
                           _ passOptions: BlockPassOptions) throws -> Void

    public init<Machine: StateMachine & SendableMetatype>(_ name: String, _ make: @escaping @Sendable (Network) -> Machine) {
        self.name = name
        makeImporter = { network, state, options in
            try Importer(machine: make(network), stateDirectory: state, network: network, options: options)
        }
        rebuild = { network, state, options, replay in
            try Importer.rebuild(machine: make(network), stateDirectory: state, network: network, options: options) { try replay($0) }
        }
        magic = { make($0).magic }
        identity = Machine.identity
        version = Machine.version
        firstBlock = { make($0).firstBlock }
        recordFields = make(.regtest).recordPositionFields
        importOnce = { network, scratch, directory, index, options in
            _ = try Importer(machine: make(network), stateDirectory: scratch, network: network, options: options).run(directory: directory, index: index)
        }
        replay = { network, scratch, directory, index, until, passOptions in
            let engine = try Engine(machine: make(network), stateDirectory: scratch, network: network)
            defer { engine.close() }
            _ = try engine.run(directory: directory, index: index, until: until, passOptions: passOptions)
        }
    }
}

struct ReplayOptions: ParsableArguments {
    @OptionGroup var source: ChainSourceOptions

    @Option(help: ArgumentHelp("State machine (default: the program's only one).", valueName: "name"))
    var machine: String?

    /// The machine chosen: by name, or the only one the program has.
    var registration: MachineRegistration {
        get throws {
            let machines = CommandLineSetup.machines
            if let machine { return try CommandLineSetup.machine(named: machine) }
            guard machines.count == 1 else { throw ValidationError("--machine is required: \(machines.map(\.name).joined(separator: ", "))") }
            return machines[0]
        }
    }

    @Option(help: "State directory (state.sqlite, checkpoints/, lock).")
    var state: String

    @Option(help: "Stop after this height.")
    var until: Int?

    @Option(name: .customLong("checkpoint-every"), help: "Write a checkpoint every N blocks (and of the tip at the end, after a run of at least N blocks or N blocks past the newest).")
    var checkpointEvery = 1_000

    @Option(name: .customLong("checkpoint-share"),
            help: "Defer a checkpoint while checkpoints would take more than this share of the import's time (default 0.05; 0: never defer).")
    var checkpointShare = ImporterOptions.defaultCheckpointShare

    @Option(help: "Checkpoints to keep: the newest K...")
    var keep = 3

    @Option(name: .customLong("keep-every"), help: "...plus one every M blocks further back.")
    var keepEvery = 10_000

    @Flag(help: "After catching up, keep following the blocks directory until interrupted (SIGINT/SIGTERM).")
    var follow = false

    @Option(help: "With --follow: process a block once it has this many confirmations.")
    var confirmations = 6

    @Option(name: .customLong("poll-interval"), help: "With --follow: seconds between looks at the blocks directory.")
    var pollInterval = 2.0

    @Flag(help: "No progress bar or summary.")
    var quiet = false

    @Flag(help: "The summary as one JSON object (one per poll with --follow); no progress bar.")
    var json = false

    @Option(name: .customLong("expect"), help: ArgumentHelp("A trusted consensus hash: stop with an error, the state at the block before, if ours differs at that height (repeatable).", valueName: "height:consensus-hash"))
    var expectations: [String] = []

    /// `--expect` values by height.
    var expectedHashes: [Int: ConsensusDigest] {
        get throws {
            var expected: [Int: ConsensusDigest] = [:]
            for text in expectations {
                let parts = text.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let height = Int(parts[0]), height >= 0, let digest = ConsensusDigest(hex: String(parts[1])) else {
                    throw ValidationError("--expect '\(text)' is not HEIGHT:CONSENSUS_HASH (32 hex digits)")
                }
                if let other = expected[height], other != digest {
                    throw ValidationError("--expect gives two consensus hashes for height \(height)")
                }
                expected[height] = digest
            }
            return expected
        }
    }

    func validate() throws {
        _ = try registration
        _ = try expectedHashes
        if checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1") }
        if keep < 1 { throw ValidationError("--keep must be at least 1") }
        if !(0...1).contains(checkpointShare) { throw ValidationError("--checkpoint-share must be between 0 and 1") }
        if keepEvery < 1 { throw ValidationError("--keep-every must be at least 1") }
        if confirmations < 1 { throw ValidationError("--confirmations must be at least 1") }
    }

    var importerOptions: ImporterOptions {
        var options = ImporterOptions()
        options.checkpointEvery = checkpointEvery
        options.checkpointShare = checkpointShare > 0 ? checkpointShare : nil
        options.expectedConsensusHashes = (try? expectedHashes) ?? [:]
        options.retention = CheckpointStore.Retention(keep: keep, keepEvery: keepEvery)
        options.until = until
        options.confirmations = follow ? confirmations : 0
        options.passOptions = source.passOptions
        return options
    }

    /// Where the blocks are, for the importer's header passes.
    var chainSource: ChainSource {
        let (datadir, blocksdir, network) = (source.datadir, source.blocksdir, source.resolvedNetwork)
        return ChainSource(baseHeight: source.baseHeight) { try BlocksDirectory.locate(datadir: datadir, blocksdir: blocksdir, network: network) }
    }

    /// Imports with `importer` (once, or following), printing progress and summaries; returns
    /// the last import's report. Any failure ends `command` with exit status 1.
    @discardableResult
    func runImport(_ importer: any ImportRunning, stop: StopSignal, command: ParsableCommand.Type) throws -> ImportReport? {
        let progress = ProgressLine()
        var last: ImportReport?
        do {
            try importer.follow(chainSource, follow: follow, pollInterval: pollInterval, stop: stop, progress: { p in
                guard !quiet && !json else { return }
                progress.update({
                    let rate = Double(p.blocks) / max(p.seconds, 1e-3)
                    let eta = rate > 0 ? Double(p.targetHeight - p.height) / rate : 0
                    return String(format: "%@: height %d/%d, %.0f blocks/s, %.1f MB/s, %d ops, ETA %.0f s",
                                  (try? registration.name) ?? "", p.height, p.targetHeight, rate, Double(p.bytes) / 1e6 / max(p.seconds, 1e-3), p.accepted, eta)
                }())
            }, indexed: { index, isFirst in
                reportIndexFindings(index, quiet: !isFirst)
            }, reported: { report, isFirst in
                progress.finish()
                last = report
                try printReport(report, announceIdle: isFirst)
            })
        } catch let error as OutputError {
            throw error
        } catch {
            progress.finish()
            command.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
        return last
    }

    func makeImporter(stateDirectory: String, command: ParsableCommand.Type) throws -> any ImportRunning {
        do {
            return try registration.makeImporter(source.resolvedNetwork, stateDirectory, importerOptions)
        } catch {
            command.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
    }

    private func printReport(_ report: ImportReport, announceIdle: Bool) throws {
        for note in report.notes { warn("note: \(note)") }
        let summary = report.summary
        if json {
            let c = report.checkpoints
            emit(try JSONOutput.line(ImportJSON(
                machine: summary.machine, firstHeight: summary.firstHeight, lastHeight: summary.lastHeight, blocks: summary.blocks,
                bytes: summary.bytes, accepted: summary.accepted, rejected: summary.rejected, dropped: summary.dropped,
                unresolved: summary.unresolved, seconds: summary.seconds, interrupted: summary.interrupted, usedFallback: summary.usedFallback,
                tip: summary.tipHash?.displayHex, consensusHash: summary.consensusHash?.hex, restoredFrom: report.restoredFrom?.height,
                reorganisation: report.reorganisation.map { ImportJSON.Reorganisation(depth: $0.depth, forkHeight: $0.forkHeight, oldTip: $0.oldTip) },
                checkpoints: ImportJSON.Checkpoints(written: c.written, stallSeconds: c.stallSeconds, writeSeconds: c.writeSeconds,
                                                    payloadBytes: c.payloadBytes, fileBytes: c.fileBytes),
                notes: report.notes)))
            return
        }
        guard !quiet else { return }
        if let first = summary.firstHeight, let last = summary.lastHeight {
            emit("""
            \(summary.machine): blocks \(first)-\(last) (\(summary.blocks)), \(summary.accepted) operations accepted, \
            \(summary.rejected) rejected, \(summary.dropped) dropped, \(summary.unresolved) with unresolved senders\
            \(summary.usedFallback ? " (no undo files: senders from an extra pass)" : ""), \
            \(String(format: "%.1f", summary.seconds)) s\(summary.interrupted ? " (interrupted, stopped at a block boundary)" : "")
            """)
            emit("tip \(summary.tipHash?.displayHex ?? "-"), consensus hash \(summary.consensusHash?.hex ?? "-")")
        } else if announceIdle {
            emit("\(summary.machine): already at the chain's tip \(summary.tipHash?.displayHex ?? "-")")
        }
        if report.checkpoints.written > 0 {
            let c = report.checkpoints
            emit(String(format: "checkpoints: %d written, replay stalled %.3f s for them, %.3f s writing in the background, %.1f MB of state -> %.1f MB",
                         c.written, c.stallSeconds, c.writeSeconds, Double(c.payloadBytes) / 1e6, Double(c.fileBytes) / 1e6))
        }
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Replay a blocks directory through a state machine; resumes where the state left off."
    )
    @OptionGroup var options: ReplayOptions

    func run() throws {
        let stop = StopSignal()
        if options.follow { stop.installSignalHandlers() }
        // A first import that fails before its first block (a wrong network, no blocks
        // directory) leaves no state directory behind it: it made one only to hold the lock.
        let existed = FileManager.default.fileExists(atPath: options.state)
        do {
            try options.runImport(try options.makeImporter(stateDirectory: options.state, command: Self.self), stop: stop, command: Self.self)
        } catch {
            if !existed { Self.removeIfEmpty(options.state) }
            throw error
        }
    }

    /// Removes a state directory this run created if no block reached it.
    static func removeIfEmpty(_ directory: String) {
        if StateDatabaseFile(stateDirectory: directory).exists {
            guard let store = try? StateStore.openForReading(directory: directory) else { return }
            let tip = try? store.tip()
            store.close()
            guard tip == nil else { return }
        }
        let ours = Set([StateStore.lockFileName, HeaderIndexStore.fileName, CheckpointStore.directoryName] + StateDatabaseFile.namesInStateDirectory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory), Set(names).isSubset(of: ours) else { return }
        if names.contains(CheckpointStore.directoryName),
           (try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + CheckpointStore.directoryName))?.isEmpty == false { return }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay from scratch into a new state; the previous state stays untouched until the new one is complete."
    )
    @OptionGroup var options: ReplayOptions

    func run() throws {
        guard !options.follow else {
            Self.printError("rebuild does not follow; run import --follow afterwards")
            throw ExitCode(2)
        }
        let registration = try options.registration
        do {
            _ = try registration.rebuild(options.source.resolvedNetwork, options.state, options.importerOptions) { importer in
                guard let report = try options.runImport(importer, stop: StopSignal(), command: Self.self) else { throw ExitCode(1) }
                return report
            }
        } catch let error as OutputError {
            throw error
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
    }
}

/// Opens an existing state to read it (no machine needed): read-only, without its lock; nothing
/// of it is created or changed.
func openState(_ path: String, command: ParsableCommand.Type) throws -> StateStore {
    guard FileManager.default.fileExists(atPath: path + "/" + StateStore.fileName) else {
        command.printError("no state in \(path) (expected \(StateStore.fileName)); run import first")
        throw ExitCode(1)
    }
    do { return try StateStore.openForReading(directory: path) } catch {
        command.printError(commandLineMessage(for: error))
        throw ExitCode(1)
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Machine, height, block, consensus hash and operation counts of a state.")
    @Option(help: "State directory.") var state: String
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        let store = try openState(state, command: Self.self)
        defer { store.close() }
        let meta = try store.meta()
        let tip = try store.tip()
        let counts = try store.counts()
        if json {
            emit(try JSONOutput.line(StatusJSON(machine: meta?.machine, version: meta?.version, network: meta?.network, firstBlock: meta?.firstBlock,
                                                height: tip?.height, block: tip?.blockHash.displayHex, consensusHash: tip?.consensusHash.hex,
                                                counts: Dictionary(counts.map { ($0.kind, $0.count) }, uniquingKeysWith: +))))
        } else {
            emit("machine \(meta?.machine ?? "?") v\(meta?.version ?? 0) on \(meta?.network ?? "?"), first block \(meta?.firstBlock ?? 0)")
            if let tip { emit("height \(tip.height), block \(tip.blockHash), consensus hash \(tip.consensusHash)") } else { emit("no blocks yet") }
            for (kind, count) in counts { emit("  \(kind): \(count)") }
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "One JSON object per block: height, block, ops_hash, consensus_hash, records.")
    @Option(help: "State directory.") var state: String

    func run() throws {
        let store = try openState(state, command: Self.self)
        defer { store.close() }
        let out = OutputBuffer()
        for (height, digest) in try store.initialHashes().sorted(by: { $0.key < $1.key }) {
            try out.line(try JSONOutput.line(ExportJSON(height: height, block: nil, opsHash: nil, consensusHash: digest.hex, records: [], txids: [])))
        }
        try store.export { block, records in
            try out.line(try JSONOutput.line(ExportJSON(height: block.height, block: block.blockHash.displayHex, opsHash: block.opsHash.internalHex,
                                                        consensusHash: block.consensusHash.hex, records: records.map(\.serialized),
                                                        txids: records.map { $0.txid?.displayHex })))
        }
        try out.finish()
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a state: recompute every ops hash and consensus hash from its records, compare with a trusted hash; --replay also replays the blocks and compares every table.",
        discussion: """
            Without --replay, every block's ops hash is recomputed from its records and every consensus hash from the first \
            block (docs/virtualchain.md, section 4) and compared with the stored ones; with --height and --consensus-hash the \
            recomputed hash at that height must equal the trusted one. Machine tables are not covered by the hashes: \
            --replay replays the blocks into a scratch state and compares every table, the machine's and the engine's, row by \
            row (the original's state_engine_verify). Exit status: 0 verified, 1 the state differs (the first height, table or \
            row is named), 2 bad input (hash text, no such state or height, wrong machine or network).
            """
    )
    @Option(help: "State directory.") var state: String
    @Option(help: "Height of the trusted consensus hash.") var height: Int?
    @Option(name: .customLong("consensus-hash"), help: "The trusted consensus hash at --height (32 hex digits).") var consensusHash: String?
    @Flag(help: "Also replay the blocks into a scratch state and compare every table with this state's.") var replay = false
    @OptionGroup var source: ChainSourceOptions
    @Option(help: ArgumentHelp("With --replay: the state machine (default: the one the state names).", valueName: "name"))
    var machine: String?
    @Option(help: "With --replay: where the scratch state goes (default: a new temporary directory, removed afterwards).")
    var scratch: String?

    func validate() throws {
        if (height == nil) != (consensusHash == nil) { throw ValidationError("--height and --consensus-hash go together") }
        if let consensusHash, ConsensusDigest(hex: consensusHash) == nil {
            throw ValidationError("--consensus-hash '\(consensusHash)' is not a consensus hash (32 hex digits)")
        }
        if !replay && (source.datadir != nil || source.blocksdir != nil || machine != nil || scratch != nil) {
            throw ValidationError("--datadir, --blocksdir, --machine and --scratch go with --replay")
        }
    }

    /// Bad input: exit status 2, as the argument parser's own refusals.
    private func refuse(_ message: String) -> ExitCode {
        Self.printError(message)
        return ExitCode(2)
    }

    private func differs(_ difference: StateAudit.Difference) -> ExitCode {
        emit("differs\(difference.height.map { " at height \($0)" } ?? ""): \(difference.problem)")
        return ExitCode(1)
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: state + "/" + StateStore.fileName) else {
            throw refuse("no state in \(state) (expected \(StateStore.fileName))")
        }
        let store: StateStore
        do { store = try StateStore.openForReading(directory: state) } catch { throw refuse(commandLineMessage(for: error)) }
        defer { store.close() }
        let check: StateAudit.HashCheck
        do { check = try StateAudit.recomputeHashes(of: store) } catch {
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
        guard case let .consistent(blocks, chain) = check else {
            if case let .differs(difference) = check { throw differs(difference) }
            return
        }
        let range = blocks > 0 ? "blocks \(chain.firstBlock)-\(chain.nextHeight - 1) (\(blocks))" : "no blocks"
        var claims = ["\(range): every ops hash recomputed from the records and every consensus hash from the first block equal the stored ones"]
        if let height, let trusted = consensusHash.flatMap(ConsensusDigest.init(hex:)) {
            guard let ours = chain.digest(atHeight: height) else {
                throw refuse("no consensus hash at height \(height) in \(state) (it holds \(range))")
            }
            guard ours == trusted else {
                throw differs(StateAudit.Difference(height: height, table: "vc_blocks",
                                                    problem: "the consensus hash recomputed at height \(height) is \(ours.hex), not the trusted \(trusted.hex): this state's history is not the trusted one"))
            }
            claims.append("the consensus hash at height \(height) equals the trusted \(trusted.hex)")
        }
        if replay {
            try replayAndCompare(store: store, lastHeight: blocks > 0 ? chain.nextHeight - 1 : nil)
            claims.append("every table equals a replay of the blocks")
        }
        emit("verified: " + claims.joined(separator: "; "))
        if height == nil { emit("note: no trusted hash given (--height, --consensus-hash): the state agrees with itself and its blocks, which does not show its history is the one others have") }
        if !replay { emit("note: machine tables are not covered by the hashes; verify --replay compares them with a replay") }
    }

    private func replayAndCompare(store: StateStore, lastHeight: Int?) throws {
        guard let meta = try store.meta() else { throw refuse("\(state) does not say which machine it holds") }
        let machines = CommandLineSetup.machines
        let registration: MachineRegistration
        if let machine {
            let found: MachineRegistration
            do { found = try CommandLineSetup.machine(named: machine) } catch { throw refuse(error.message) }
            guard found.identity == meta.machine else { throw refuse("\(state) holds state of \(meta.machine), not of \(found.identity)") }
            registration = found
        } else {
            guard let found = machines.first(where: { $0.identity == meta.machine }) else {
                throw refuse("\(state) holds state of \(meta.machine), which this program does not have")
            }
            registration = found
        }
        let network = source.resolvedNetwork
        guard meta.network == network.rawValue else { throw refuse("\(state) holds a \(meta.network) state, not \(network.rawValue) (--network)") }
        guard let lastHeight else { return }
        let (directory, index) = try source.loadIndex(for: Self.self)
        let scratchDirectory = scratch ?? FileManager.default.temporaryDirectory.appendingPathComponent("virtualchain-verify-\(UUID().uuidString)").path
        let scratchState = StateDatabaseFile(stateDirectory: scratchDirectory)
        guard !scratchState.exists else {
            throw refuse("--scratch \(scratchDirectory) already holds a state; give an empty directory")
        }
        defer {
            try? scratchState.remove()
            if scratch == nil { try? FileManager.default.removeItem(atPath: scratchDirectory) }
        }
        do {
            try registration.replay(network, scratchDirectory, directory, index, lastHeight, source.passOptions)
            let replayed = try StateStore.openForReading(directory: scratchDirectory)
            let replayedTip = try replayed.tip()?.height
            replayed.close()
            guard replayedTip == lastHeight else {
                throw differs(StateAudit.Difference(height: (replayedTip ?? meta.firstBlock - 1) + 1, table: nil,
                                                    problem: "the blocks directory's best chain ends at \(replayedTip.map(String.init) ?? "no block"), below the state's tip \(lastHeight)"))
            }
            if let difference = try StateAudit.firstDifference(between: state + "/" + StateStore.fileName, and: scratchDirectory + "/" + StateStore.fileName) {
                throw differs(difference)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
    }
}

struct CheckpointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "List or verify the checkpoints of a state directory.",
        discussion: "One JSON object per checkpoint with --json: path, height, block, consensus_hash, bytes, ok (and problem). verify exits 1 if any is damaged."
    )

    enum Action: String, ExpressibleByArgument { case list, verify }

    @Argument(help: "list or verify") var action: Action
    @Option(help: "State directory.") var state: String
    @Flag(help: "One JSON object per checkpoint.") var json = false

    func run() throws {
        let store = CheckpointStore(stateDirectory: state)
        let entries: [CheckpointStore.Entry]
        do { entries = try store.verifyAll() } catch {
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
        for entry in entries {
            if json {
                let h = entry.header
                emit(try JSONOutput.line(CheckpointJSON(path: entry.path, height: h?.height, block: h?.blockHash.displayHex, consensusHash: h?.consensusHash.hex,
                                                        bytes: entry.bytes, ok: entry.ok, problem: entry.problem)))
            } else if let h = entry.header {
                emit("\(entry.ok ? "ok  " : "BAD ") height \(h.height) block \(h.blockHash) consensus \(h.consensusHash) \(entry.bytes) bytes \(entry.path)")
            } else {
                emit("BAD \(entry.path): \(entry.problem ?? "unreadable")")
            }
        }
        if entries.isEmpty && !json { emit("no checkpoints in \(store.directory)") }
        if action == .verify && entries.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }
}
