import Benchmark
import BitcoinWire
import BlockFiles
import BlockReader
import Measuring
import ChainIndex
import Foundation
import TestChain

/// One generated mainnet-like chain (256 MiB, xor'd) shared by the reader phases; `sha256` is the
/// same-run baseline each phase is compared with (throughput ratio = phase / sha256 in bytes/s).
final class Dataset: @unchecked Sendable {
    static let shared = Dataset()
    let directory: BlocksDirectory
    let index: ChainIndex
    let bytes: Int

    private init() {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("vc-bench-\(getpid())").path
        var options = TestChainOptions()
        options.length = .bytes(256 << 20)
        options.seed = "benchmarks"
        options.xor = true
        _ = try! TestChainGenerator.generate(options, out: out)
        let directory = try! BlocksDirectory(path: out + "/blocks", network: .regtest)
        let index = try! ChainIndex(directory: directory)
        self.directory = directory
        self.index = index
        bytes = index.bestChain.reduce(0) { $0 + index.entries[$1].location.size }
    }

    func pass(threads: Int, body: @escaping @Sendable (ParsedBlock) -> Int) -> Int {
        var total = 0
        let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(verify: false, threads: threads, window: 8))
        try! pass.run(entries: index.bestChain, transform: body, consume: { _, n in total &+= n })
        return total
    }
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .peakMemoryResident],
        scalingFactor: .one,
        maxDuration: .seconds(10),
        maxIterations: 10
    )
    let magic = Array("id".utf8)

    Benchmark("sha256", configuration: configuration) { benchmark in
        blackHole(HashBaseline.measure(bytes: Dataset.shared.bytes))
    }
    Benchmark("headers", configuration: configuration) { benchmark in
        blackHole(try ChainIndex(directory: Dataset.shared.directory).bestChain.count)
    }
    Benchmark("parse", configuration: configuration) { benchmark in
        blackHole(Dataset.shared.pass(threads: 1) { block in
            var sink = 0
            for tx in block.view.transactions { sink &+= Int(truncatingIfNeeded: tx.txid().rawHash.a) }
            return sink
        })
    }
    Benchmark("filter", configuration: configuration) { benchmark in
        blackHole(Dataset.shared.pass(threads: 1) { block in
            block.view.transactions.reduce(0) { n, tx in
                n + (tx.nullData.flatMap { NullData.operation(in: $0, magic: magic) } == nil ? 0 : 1)
            }
        })
    }
    Benchmark("generate", configuration: Benchmark.Configuration(metrics: [.wallClock], maxDuration: .seconds(30), maxIterations: 3)) { benchmark in
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("vc-bench-gen-\(getpid())-\(UUID().uuidString)").path
        var options = TestChainOptions()
        options.length = .bytes(128 << 20)
        options.seed = "generate"
        blackHole(try TestChainGenerator.generate(options, out: out).tipHeight)
        try? FileManager.default.removeItem(atPath: out)
    }
}
