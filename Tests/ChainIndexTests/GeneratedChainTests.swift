import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex
@testable import TestChain

@Suite struct GeneratedChainTests {
    func options(seed: String) -> TestChainOptions {
        var options = TestChainOptions()
        options.length = .blocks(180)
        options.seed = seed
        options.xor = true
        options.stale = 4
        options.reorg = true
        options.shuffleWindow = 25
        options.maxFileSize = 400_000
        options.blockWeight = 120_000
        return options
    }

    @Test(arguments: ["a", "b", "c"])
    func readerFindsTheGeneratorsChainAndOperations(seed: String) throws {
        let root = try TestPaths.temporaryDirectory(seed)
        defer { try? FileManager.default.removeItem(at: root) }
        let summary = try TestChainGenerator.generate(options(seed: seed), out: root.path)
        let directory = try BlocksDirectory(path: root.appendingPathComponent("blocks").path, network: .regtest)
        #expect(directory.blockFiles.count >= 3)
        #expect(directory.xorKey == summary.xorKey)
        let index = try ChainIndex(directory: directory)
        #expect(index.problems.isEmpty, "\(index.problems)")
        #expect(index.bestChain.map { index.entries[$0].hash } == summary.mainChain)
        #expect(index.tipHeight == summary.tipHeight)
        let stale = Set(index.entries.indices.filter { index.isStale($0) }.map { index.entries[$0].hash })
        #expect(stale == Set(summary.staleBlocks))
        for record in index.entries where record.isOnBestChain {
            #expect(summary.mainChain[record.height!] == record.hash)
        }
        // One entry per block by hash and by height; the fork point of each stale block and the
        // tip is the best-chain block from which its branch leaves.
        for (height, hash) in summary.mainChain.enumerated() {
            #expect(index.entry(atHeight: height)?.hash == hash)
            #expect(index.entry(for: hash)?.status == .best)
        }
        let tip = index.tip!.hash
        for hash in summary.staleBlocks {
            let entry = try #require(index.entry(for: hash))
            #expect(entry.status == .stale)
            let fork = try #require(index.forkPoint(between: hash, and: tip))
            #expect(fork.status == .best && fork.height! < entry.height!)
            var cursor = entry
            while cursor.height! > fork.height! + 1 { cursor = index.entry(for: cursor.parent)! }
            #expect(cursor.parent == fork.hash)
            #expect(index.forkPoint(between: tip, and: hash)?.hash == fork.hash)
        }
        #expect(index.forkPoint(between: tip, and: tip)?.hash == tip)
        // Against the definition, a climb parent by parent: every pair of stale blocks (on one
        // branch or two), and stale blocks against best-chain blocks below and above them.
        func climbed(_ a: BlockHash, _ b: BlockHash) -> BlockHash {
            var x = index.entry(for: a)!, y = index.entry(for: b)!
            while x.hash != y.hash {
                if x.height! >= y.height! { x = index.entry(for: x.parent)! } else { y = index.entry(for: y.parent)! }
            }
            return x.hash
        }
        let probes = summary.staleBlocks + stride(from: 0, to: summary.mainChain.count, by: 17).map { summary.mainChain[$0] }
        for a in probes {
            for b in probes { #expect(index.forkPoint(between: a, and: b)?.hash == climbed(a, b), "fork of \(a) and \(b)") }
        }
        // Operations per magic, by the reader's filter, equal the generator's independent count.
        let magics = summary.options.opMix.magics.map(\.bytes)
        var counts = [Int](repeating: 0, count: magics.count)
        var transactions = 0
        let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(threads: 2, window: 4))
        try pass.run(entries: index.bestChain, transform: { block in
            var found = [Int](repeating: 0, count: magics.count)
            for tx in block.view.transactions {
                guard let data = tx.nullData else { continue }
                for (i, magic) in magics.enumerated() where NullData.operation(in: data, magic: magic) != nil { found[i] += 1 }
            }
            return (found, block.view.transactions.count)
        }, consume: { _, value in
            for i in counts.indices { counts[i] += value.0[i] }
            transactions += value.1
        })
        #expect(counts == summary.ops.map(\.count))
        #expect(transactions == summary.transactions)
    }

    @Test func bundledTestdataRegeneratesByteForByte() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let args = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("testdata/regtest.args"), encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).map(String.init)
        let result = try runCLI(["testchain", "--out", root.path, "--quiet"] + args)
        #expect(result.status == 0, "\(result.stderr)")
        let committed = TestPaths.packageRoot.appendingPathComponent("testdata/regtest")
        for name in ["testchain.json"] + (try FileManager.default.contentsOfDirectory(atPath: committed.appendingPathComponent("blocks").path).map { "blocks/" + $0 }) {
            #expect(try Data(contentsOf: root.appendingPathComponent(name)) == Data(contentsOf: committed.appendingPathComponent(name)),
                    "testdata/regtest/\(name) differs from a fresh generation; run scripts/regenerate-testdata")
        }
    }

    /// Bitcoin Core stores blocks submitted out of order, xor'd, in its own files; we must list
    /// the same best chain as its active chain.
    @Test(.enabled(if: pythonHas(["pbk"]) || TestPaths.inCI, "py-bitcoinkernel not installed"))
    func coreWrittenDatadirGivesCoresActiveChain() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var opts = options(seed: "core")
        opts.xor = false  // Core picks its own key
        let generated = root.appendingPathComponent("generated"), core = root.appendingPathComponent("core")
        _ = try TestChainGenerator.generate(opts, out: generated.path)
        let dump = root.appendingPathComponent("core-chain.txt")
        let check = try runPython("kernel_check.py", [generated.path, core.path, "--dump-chain", dump.path])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr.suffix(1500))")
        let coreChain = try String(contentsOf: dump, encoding: .utf8).split(separator: "\n").map(String.init)
        let directory = try BlocksDirectory(path: core.appendingPathComponent("blocks").path, network: .regtest)
        #expect(!directory.xorKey.isIdentity, "Core 28+ obfuscates its block files")
        let index = try ChainIndex(directory: directory)
        #expect(index.bestChain.map { index.entries[$0].hash.displayHex } == coreChain)
        #expect(coreChain.count == 181)
    }
}
