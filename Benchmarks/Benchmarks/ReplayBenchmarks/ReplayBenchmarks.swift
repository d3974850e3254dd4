import Benchmark
import BlockFiles
import ChainIndex
import Checkpoints
import ConsensusHashing
import Foundation
import Importer
import Names
import Reference
import TestChain
import Virtualchain

/// A 10,000-block names-scenario chain, imported once with checkpoints. `replay` (from scratch)
/// and `restart` (newest checkpoint, then the rest) reach the same tip in the same run; their
/// ratio is the restart speed-up. `checkpoint_write` / `checkpoint_load` time one checkpoint of
/// the final state (its size is printed once, for the compression ratio).
final class ReplayDataset: @unchecked Sendable {
    static let shared = ReplayDataset()
    let root: String
    let blocks: BlocksDirectory
    let checkpointState: String

    private init() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("vc-replay-bench-\(getpid())").path
        var options = TestChainOptions()
        options.length = .blocks(10_000)
        options.seed = "replay-benchmark"
        options.scenario = .names
        options.blockWeight = 100_000
        _ = try! TestChainGenerator.generate(options, out: root + "/chain")
        blocks = try! BlocksDirectory(path: root + "/chain/blocks", network: .regtest)
        checkpointState = root + "/with-checkpoints"
        _ = try! Self.importOnce(blocks: blocks, state: checkpointState)
        let newest = try! CheckpointStore(stateDirectory: checkpointState).verifyAll().last!
        print("checkpoint at \(newest.header!.height): \(newest.header!.payloadBytes) bytes of state -> \(newest.bytes) bytes (ratio \(String(format: "%.2f", Double(newest.header!.payloadBytes) / Double(newest.bytes))))")
    }

    static func importOnce(blocks: BlocksDirectory, state: String) throws -> ImportReport {
        var options = ImporterOptions()
        options.checkpointEvery = 1_000
        let importer = try Importer(machine: NamesMachine(firstBlock: 1), stateDirectory: state, network: .regtest, options: options)
        return try importer.run(directory: blocks, index: ChainIndex(directory: blocks))
    }

    func removeLiveState(_ state: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: state + "/state.sqlite" + suffix) }
    }
}

/// Chains for the import benchmarks, generated on first use: `big` like the README's 2 GiB
/// mainnet-like chain, `small` 100,000 small blocks (the per-block cost).
final class ImportDataset: @unchecked Sendable {
    static let big = ImportDataset(name: "big") { $0.length = .bytes(2 << 30); $0.seed = "1"; $0.xor = true }
    static let small = ImportDataset(name: "small") { $0.length = .blocks(100_000); $0.blockWeight = 20_000; $0.seed = "4"; $0.xor = true }
    let root: String
    let blocks: BlocksDirectory

    private init(name: String, _ configure: (inout TestChainOptions) -> Void) {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("vc-import-bench-\(name)-\(getpid())").path
        var options = TestChainOptions()
        configure(&options)
        _ = try! TestChainGenerator.generate(options, out: root + "/chain")
        blocks = try! BlocksDirectory(path: root + "/chain/blocks", network: .regtest)
    }

    /// One import through the reference machine, verification on, into a fresh scratch state.
    func importOnce(_ benchmark: Benchmark) throws {
        let state = root + "/scratch-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let importer = try Importer(machine: NotaryMachine(), stateDirectory: state, network: .regtest)
        let index = try ChainIndex(directory: blocks)
        benchmark.startMeasurement()
        blackHole(try importer.run(directory: blocks, index: index))
        benchmark.stopMeasurement()
    }
}

let benchmarks: @Sendable () -> Void = {
    let importConfiguration = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident, .throughput], maxDuration: .seconds(120), maxIterations: 3)
    Benchmark("import", configuration: importConfiguration) { benchmark in try ImportDataset.big.importOnce(benchmark) }
    Benchmark("import_many_blocks", configuration: importConfiguration) { benchmark in try ImportDataset.small.importOnce(benchmark) }

    let configuration = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident], maxDuration: .seconds(60), maxIterations: 5)
    Benchmark("replay", configuration: configuration) { benchmark in
        let data = ReplayDataset.shared
        let state = data.root + "/scratch-\(UUID().uuidString)"
        benchmark.startMeasurement()
        blackHole(try ReplayDataset.importOnce(blocks: data.blocks, state: state))
        benchmark.stopMeasurement()
        try? FileManager.default.removeItem(atPath: state)
    }
    Benchmark("restart", configuration: configuration) { benchmark in
        let data = ReplayDataset.shared
        data.removeLiveState(data.checkpointState)
        benchmark.startMeasurement()
        let report = try ReplayDataset.importOnce(blocks: data.blocks, state: data.checkpointState)
        benchmark.stopMeasurement()
        precondition(report.restoredFrom != nil, "restart did not restore a checkpoint")
        blackHole(report)
    }
    Benchmark("checkpoint_write", configuration: configuration) { benchmark in
        let data = ReplayDataset.shared
        let database = try SQLiteDatabase(path: data.checkpointState + "/state.sqlite", readOnly: true)
        let image = try database.serializedImage()
        let header = CheckpointHeader(machine: "names", machineVersion: 1, network: "regtest", firstBlock: 1, height: 0, blockHash: .zero, consensusHash: ConsensusDigest(hex: String(repeating: "00", count: 16))!,
                                      payloadSHA256: "", payloadBytes: image.count)
        let store = CheckpointStore(stateDirectory: data.root + "/write-bench")
        benchmark.startMeasurement()
        blackHole(try store.write(header: header, payload: image, retention: .init(keep: 1, keepEvery: 1)))
    }
    Benchmark("checkpoint_load", configuration: configuration) { benchmark in
        let data = ReplayDataset.shared
        let store = CheckpointStore(stateDirectory: data.checkpointState)
        let newest = try! store.paths().last!
        benchmark.startMeasurement()
        blackHole(store.inspect(newest, payload: true).payload!.count)
    }
}
