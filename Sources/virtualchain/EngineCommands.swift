import ArgumentParser
import BitcoinWire
import BlockFiles
import BlockReader
import ChainIndex
import Foundation
import Names
import Reference
import Virtualchain

/// The state machines this tool ships.
enum MachineChoice: String, ExpressibleByArgument, CaseIterable {
    case names, reference

    /// Replays into `state` with the chosen machine (the engine is generic over the machine type).
    func run(network: Network, state: String, directory: BlocksDirectory, index: ChainIndex, until: Int?,
             passOptions: BlockPassOptions, progress: @escaping (ImportProgress) -> Void) throws -> ImportSummary {
        switch self {
        case .names:
            let engine = try Engine(machine: NamesMachine(firstBlock: NamesMachine.firstBlock(network: network.rawValue)),
                                    stateDirectory: state, network: network)
            return try engine.run(directory: directory, index: index, until: until, passOptions: passOptions, progress: progress)
        case .reference:
            let engine = try Engine(machine: NotaryMachine(), stateDirectory: state, network: network)
            return try engine.run(directory: directory, index: index, until: until, passOptions: passOptions, progress: progress)
        }
    }
}

struct ReplayOptions: ParsableArguments {
    @OptionGroup var source: ChainSourceOptions

    @Option(help: "State machine: names or reference.")
    var machine: MachineChoice

    @Option(help: "State directory (holds state.sqlite).")
    var state: String

    @Option(help: "Stop after this height.")
    var until: Int?

    @Flag(help: "No progress bar or summary.")
    var quiet = false

    /// Header pass, then replay into `stateDirectory`, with a progress bar and a summary.
    func replay(into stateDirectory: String, command: ParsableCommand.Type) throws -> ImportSummary {
        let (directory, index) = try source.loadIndex(for: command)
        let progress = ProgressLine()
        let summary: ImportSummary
        do {
            summary = try machine.run(network: source.resolvedNetwork, state: stateDirectory, directory: directory, index: index,
                                      until: until, passOptions: source.passOptions) { p in
                guard !quiet else { return }
                progress.update({
                    let rate = Double(p.blocks) / max(p.seconds, 1e-3)
                    let eta = rate > 0 ? Double(p.targetHeight - p.height) / rate : 0
                    return String(format: "%@: height %d/%d, %.0f blocks/s, %.1f MB/s, %d ops, ETA %.0f s",
                                  machine.rawValue, p.height, p.targetHeight, rate, Double(p.bytes) / 1e6 / max(p.seconds, 1e-3), p.accepted, eta)
                }())
            }
        } catch {
            progress.finish()
            command.printError("\(error)")
            throw ExitCode(1)
        }
        progress.finish()
        if !quiet {
            if let first = summary.firstHeight, let last = summary.lastHeight {
                print("""
                \(summary.machine): blocks \(first)-\(last) (\(summary.blocks)), \(summary.accepted) operations accepted, \
                \(summary.rejected) rejected, \(summary.dropped) dropped, \(summary.unresolved) with unresolved senders\
                \(summary.usedFallback ? " (no undo files: senders from an extra pass)" : ""), \
                \(String(format: "%.1f", summary.seconds)) s
                """)
            } else {
                print("\(summary.machine): already at the chain's tip")
            }
            print("tip \(summary.tipHash ?? "-"), consensus hash \(summary.consensusHash ?? "-")")
        }
        return summary
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Replay a blocks directory through a state machine; resumes where the state left off."
    )
    @OptionGroup var options: ReplayOptions

    func run() throws { _ = try options.replay(into: options.state, command: Self.self) }
}

struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay from scratch into a new state; the previous state stays untouched until the new one is complete."
    )
    @OptionGroup var options: ReplayOptions

    func run() throws {
        let fm = FileManager.default
        let target = options.state.hasSuffix("/") ? String(options.state.dropLast()) : options.state
        let fresh = target + ".rebuild"
        try? fm.removeItem(atPath: fresh)
        _ = try options.replay(into: fresh, command: Self.self)
        // Swap: the old state is moved aside only once the new one is complete, then removed.
        let old = target + ".old"
        try? fm.removeItem(atPath: old)
        if fm.fileExists(atPath: target) { try fm.moveItem(atPath: target, toPath: old) }
        try fm.moveItem(atPath: fresh, toPath: target)
        try? fm.removeItem(atPath: old)
    }
}

/// Opens an existing state read-only-ish (no machine needed).
func openState(_ path: String, command: ParsableCommand.Type) throws -> StateStore {
    guard FileManager.default.fileExists(atPath: path + "/" + StateStore.fileName) else {
        command.printError("no state in \(path) (expected \(StateStore.fileName)); run import first")
        throw ExitCode(1)
    }
    do { return try StateStore(directory: path) } catch {
        command.printError("\(error)")
        throw ExitCode(1)
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Machine, height, block, consensus hash and operation counts of a state.")
    @Option(help: "State directory.") var state: String
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        let store = try openState(state, command: Self.self)
        let meta = try store.meta()
        let tip = try store.tip()
        let counts = try store.counts()
        if json {
            let countText = counts.map { "\(jsonString($0.kind)):\($0.count)" }.joined(separator: ",")
            print("{\"machine\":\(jsonString(meta?.machine ?? "")),\"version\":\(meta?.version ?? 0),\"network\":\(jsonString(meta?.network ?? "")),\"first_block\":\(meta?.firstBlock ?? 0),\"height\":\(tip.map { String($0.height) } ?? "null"),\"block\":\(tip.map { jsonString($0.blockHash) } ?? "null"),\"consensus_hash\":\(tip.map { jsonString($0.consensusHash) } ?? "null"),\"counts\":{\(countText)}}")
        } else {
            print("machine \(meta?.machine ?? "?") v\(meta?.version ?? 0) on \(meta?.network ?? "?"), first block \(meta?.firstBlock ?? 0)")
            if let tip { print("height \(tip.height), block \(tip.blockHash), consensus hash \(tip.consensusHash)") } else { print("no blocks yet") }
            for (kind, count) in counts { print("  \(kind): \(count)") }
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "One JSON object per block: height, block, ops_hash, consensus_hash, records.")
    @Option(help: "State directory.") var state: String

    func run() throws {
        let store = try openState(state, command: Self.self)
        let db = store.database
        let out = OutputBuffer()
        var records: [Int: [String]] = [:]
        for row in try db.run("SELECT height, serialized FROM vc_records ORDER BY height, position") {
            records[row[0].int!, default: []].append(String(decoding: row[1].blob ?? [], as: UTF8.self))
        }
        for row in try db.run("SELECT height, block_hash, ops_hash, consensus_hash FROM vc_blocks ORDER BY height") {
            let height = row[0].int!
            let list = (records[height] ?? []).map(jsonString).joined(separator: ",")
            out.line("{\"height\":\(height),\"block\":\"\(row[1].string!)\",\"ops_hash\":\"\(row[2].string!)\",\"consensus_hash\":\"\(row[3].string!)\",\"records\":[\(list)]}")
        }
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Exit 0 only if our consensus hash at HEIGHT equals the one given.")
    @Option(help: "State directory.") var state: String
    @Option(help: "Block height.") var height: Int
    @Option(name: .customLong("consensus-hash"), help: "Expected consensus hash (32 hex digits).") var consensusHash: String

    func run() throws {
        let store = try openState(state, command: Self.self)
        let ours = try store.database.run("SELECT consensus_hash FROM vc_blocks WHERE height = ?", [SQLiteValue(height)]).first?[0].string
        guard let ours else {
            Self.printError("no consensus hash at height \(height) in \(state)")
            throw ExitCode(1)
        }
        if ours == consensusHash.lowercased() {
            print("match: \(ours) at height \(height)")
        } else {
            print("mismatch at height \(height): ours \(ours), given \(consensusHash.lowercased())")
            throw ExitCode(1)
        }
    }
}
