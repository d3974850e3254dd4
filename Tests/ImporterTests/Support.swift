import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import Checkpoints
@testable import Importer
import Names
@testable import TestChain
@testable import Virtualchain

/// A names-scenario chain (no shuffling, so storage order follows arrival) and its reference
/// export from an uninterrupted import.
final class CheckpointChain: @unchecked Sendable {
    static let shared = try! CheckpointChain()
    let root: URL
    let blocks: URL
    let summary: TestChainSummary
    let referenceExport: String
    /// The state of an uninterrupted import of the whole chain.
    var referenceState: URL { root.appendingPathComponent("reference-state") }

    init() throws {
        root = try TestPaths.temporaryDirectory("checkpoint-chain")
        var options = TestChainOptions()
        options.length = .blocks(300)
        options.seed = "checkpoints"
        options.scenario = .names
        options.xor = true
        options.stale = 2
        options.reorg = true
        options.blockWeight = 50_000
        options.maxFileSize = 1 << 20
        summary = try TestChainGenerator.generate(options, out: root.appendingPathComponent("chain").path)
        blocks = root.appendingPathComponent("chain/blocks")
        let state = root.appendingPathComponent("reference-state")
        let imported = try runCLI(["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path, "--quiet"])
        precondition(imported.status == 0, imported.stderr)
        referenceExport = try runCLI(["export", "--state", state.path]).stdout
    }

    /// A copy of the blocks directory holding only what had arrived up to and including `hash`'s
    /// record (later files dropped, its file cut after it; rev files and xor.dat kept).
    func prefix(through hash: BlockHash, into directory: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let index = try ChainIndex(directory: BlocksDirectory(path: blocks.path, network: .regtest))
        let location = index.entries[index.entryIndex(of: hash)!].location
        for name in try fm.contentsOfDirectory(atPath: blocks.path) {
            let source = blocks.appendingPathComponent(name)
            if name.hasPrefix("blk"), let number = Int(name.dropFirst(3).prefix(5)) {
                if number > location.file { continue }
                var data = try Data(contentsOf: source)
                if number == location.file { data = data.prefix(location.offset + 8 + location.size) }
                try data.write(to: directory.appendingPathComponent(name))
            } else {
                try fm.copyItem(at: source, to: directory.appendingPathComponent(name))
            }
        }
    }
}

func cli(_ arguments: [String]) throws -> ProcessResult { try runCLI(arguments) }

/// The import `importArguments` asks of the command line, run by an `Importer` in this process
/// (names machine, regtest, checkpoints exactly every `checkpointEvery` blocks): for tests of
/// what the importer decides, read from its report rather than from a program's messages.
func importInProcess(_ blocks: URL, _ state: URL, checkpointEvery: Int = 1_000, until: Int? = nil) throws -> ImportReport {
    var options = ImporterOptions()
    options.checkpointEvery = checkpointEvery
    options.checkpointShare = nil
    options.until = until
    let importer = try Importer(machine: NamesMachine(firstBlock: 1), stateDirectory: state.path, network: .regtest, options: options)
    var report: ImportReport?
    try importer.follow(ChainSource { try BlocksDirectory(path: blocks.path, network: .regtest) }, follow: false, pollInterval: 1,
                        stop: StopSignal(), reported: { last, _ in report = last })
    return report!
}

/// `import` with checkpoints exactly every `--checkpoint-every` blocks (never deferred for their
/// cost), so the tests know which heights have one.
func importArguments(_ blocks: URL, _ state: URL, _ extra: [String] = []) -> [String] {
    ["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path, "--quiet",
     "--checkpoint-share", "0"] + extra
}

func exportOf(_ state: URL) throws -> String { try runCLI(["export", "--state", state.path]).stdout }

/// Rows of a query on a state's database, each as its values joined by "|".
func tableRows(_ state: URL, _ sql: String) throws -> [String] {
    let database = try SQLiteDatabase(path: state.appendingPathComponent(StateStore.fileName).path, readOnly: true)
    defer { database.close() }
    return try database.run(sql).map { row in
        row.map { value in
            switch value {
            case .null: return "NULL"
            case let .integer(v): return String(v)
            case let .real(v): return String(v)
            case let .text(v): return v
            case let .blob(v): return Hex.encode(v)
            }
        }.joined(separator: "|")
    }
}

/// Every table of a state (the machine's and the engine's), each row in a canonical order.
func stateTables(_ state: URL) throws -> [String: [String]] {
    var tables: [String: [String]] = [:]
    for name in try tableRows(state, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") {
        tables[name] = try tableRows(state, "SELECT * FROM \"\(name)\"").sorted()
    }
    return tables
}
