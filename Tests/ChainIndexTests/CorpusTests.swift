import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex

/// Real mainnet blocks from ../shared/corpus (read in place; skipped where it is absent).
@Suite(.enabled(if: TestPaths.corpusAvailable || TestPaths.inCI, "needs ../shared/corpus (real mainnet blocks); in CI it fails without them"))
struct CorpusTests {
    @Test func heights1To255FollowGenesis() throws {
        let fixture = try BlocksFixture()
        try fixture.write("blk00000.dat", BlocksFixture.record(Network.mainnet.genesisBlock.serialized))
        try fixture.link("blk00001.dat", to: Corpus.heights1to255)
        let result = try read(fixture.open())
        let index = result.index
        #expect(index.tipHeight == 255)
        #expect(index.entries[index.entryIndex(atHeight: 1)!].hash.displayHex == "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048")
        #expect(index.entries[index.entryIndex(atHeight: 255)!].hash.displayHex == "00000000d0a75c861fabf9ff7b92022f60e4afeed9331fe5aa073d8e4706fe3c")
        #expect(result.rows.count == 256)
        #expect(index.problems.isEmpty)
    }

    /// Single blocks form a "pruned" directory: the height comes from the BIP34 coinbase.
    @Test(arguments: [
        ("277647", 277_647, "0000000000000000054a714e580b16c583701712ab91060e92dbde6eb1e052a8", 213),
        ("540107", 540_107, "00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab", 230),
        ("574200", 574_200, "0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2", 3315),
    ])
    func singleBlocksWithMerkleRootsAndBIP34Heights(name: String, height: Int, hash: String, transactions: Int) throws {
        let fixture = try BlocksFixture(name)
        switch name {
        case "277647": try fixture.link("blk00000.dat", to: Corpus.height277647)
        case "540107": try fixture.write("blk00000.dat", BlocksFixture.record(Corpus.bytes(Corpus.block540107)))
        default: try fixture.write("blk00000.dat", BlocksFixture.record(Corpus.bytes(Corpus.block574200)))
        }
        let result = try read(fixture.open())
        #expect(result.index.tipHeight == height)
        #expect(result.index.notes.contains { $0.contains("height \(height) from its BIP34 coinbase") })
        #expect(result.rows.count == 1)
        #expect(result.index.entries.first!.hash.displayHex == hash)
        #expect(result.rows[0].txids.count == transactions)
        #expect(Merkle.root(result.rows[0].txids).root == result.rows[0].merkle)
    }

    @Test func forkResolvesToTheBranchWithMoreWork() throws {
        let fixture = try BlocksFixture()
        try fixture.link("blk00000.dat", to: Corpus.forks.appendingPathComponent("blk_0_to_4.dat"))
        try fixture.link("blk00001.dat", to: Corpus.forks.appendingPathComponent("blk_3A.dat"))
        try fixture.link("blk00002.dat", to: Corpus.forks.appendingPathComponent("blk_4A.dat"))
        try fixture.link("blk00003.dat", to: Corpus.forks.appendingPathComponent("blk_5A.dat"))
        let index = try read(fixture.open(), all: true).index
        let chain = index.bestChain.map { String(index.entries[$0].hash.displayHex.prefix(16)) }
        #expect(chain == ["000000000019d668", "00000000ebe5ec3e", "00000000952ccb1b", "00000000474284d2", "00000000551dc04c", "00000000195f8518"])
        let stale = index.entries.indices.filter { index.isStale($0) }.map { String(index.entries[$0].hash.displayHex.prefix(16)) }
        #expect(stale == ["00000000bc358930", "000000002f264d65"])

        let alone = try BlocksFixture("forkAlone")
        try alone.link("blk00000.dat", to: Corpus.forks.appendingPathComponent("blk_0_to_4.dat"))
        let onlyOriginal = try ChainIndex(directory: alone.open())
        #expect(onlyOriginal.tipHeight == 4)
        #expect(onlyOriginal.tip!.hash.displayHex.hasPrefix("000000002f264d65"))
    }

    @Test func blockstackAndOmniOperationsAtHeight574200() throws {
        let fixture = try BlocksFixture()
        try fixture.write("blk00000.dat", BlocksFixture.record(Corpus.bytes(Corpus.block574200)))
        let id = try runCLI(["ops", "--all", "--magic", "id", "--blocksdir", fixture.path])
        #expect(id.status == 0, "\(id.stderr)")
        let ops = id.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(ops.map { $0["vtxindex"] as? Int } == [727, 822])
        #expect(ops.allSatisfy { $0["opcode"] as? String == "24" && $0["height"] as? Int == 574_200 })
        #expect(ops.allSatisfy { ($0["payload"] as? String)?.hasPrefix("d6f3d42a4c98b68b8a63ab8fb07d6aeb") == true })
        let hex = try runCLI(["ops", "--all", "--magic", "0x6964", "--blocksdir", fixture.path])
        #expect(hex.stdout == id.stdout)
        let omni = try runCLI(["ops", "--all", "--magic", "omni", "--blocksdir", fixture.path])
        #expect(omni.stdout.split(separator: "\n").count == 418)
    }

    /// python-bitcoinlib, an implementation we did not write, agrees on every txid and wtxid.
    @Test(.enabled(if: pythonHas(["bitcoin"]) || TestPaths.inCI, "python-bitcoinlib not installed"))
    func txidsAndWtxidsMatchPythonBitcoinlib() throws {
        let fixture = try BlocksFixture()
        try fixture.write("blk00000.dat", BlocksFixture.record(Network.mainnet.genesisBlock.serialized))
        try fixture.link("blk00001.dat", to: Corpus.heights1to255)
        try fixture.link("blk00002.dat", to: Corpus.height277647)
        try fixture.write("blk00003.dat", BlocksFixture.record(Corpus.bytes(Corpus.block540107)) + BlocksFixture.record(Corpus.bytes(Corpus.block574200)))
        for (number, name) in ["blk_0_to_4", "blk_3A", "blk_4A", "blk_5A"].enumerated() {
            // A second copy of genesis comes with the fork files: a duplicate record, harmless.
            try fixture.link("blk0100\(number).dat", to: Corpus.forks.appendingPathComponent(name + ".dat"))
        }
        let ours = try read(fixture.open(), all: true)
        var byHash: [String: (txids: [String], wtxids: [String])] = [:]
        for row in ours.rows {
            byHash[ours.index.entries[row.entry].hash.displayHex] = (row.txids.map(\.displayHex), row.wtxids.map(\.displayHex))
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: fixture.path).sorted().map { fixture.url.appendingPathComponent($0).path }
        let oracle = try runPython("bitcoinlib_ids.py", files)
        #expect(oracle.status == 0, "\(oracle.stderr)")
        var compared = 0, transactions = 0
        for line in oracle.stdout.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let hash = object["hash"] as! String
            let mine = try #require(byHash[hash], "we did not read block \(hash)")
            #expect(mine.txids == object["txids"] as! [String], "txids of \(hash)")
            #expect(mine.wtxids == object["wtxids"] as! [String], "wtxids of \(hash)")
            #expect(object["merkle_root"] as? String == object["computed_merkle_root"] as? String)
            compared += 1
            transactions += mine.txids.count
        }
        #expect(compared == ours.rows.count)
        #expect(compared == 1 + 255 + 1 + 2 + 8)  // genesis, 1-255, 277647, 540107 and 574200, the eight fork records
        #expect(transactions > 3_000)
    }
}
