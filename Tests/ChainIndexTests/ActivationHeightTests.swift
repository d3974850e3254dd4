import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex
@testable import TestChain

/// A generated directory as a pruned node holds it (`--start-height`), on any network.
final class PrunedChain {
    let root: URL
    let summary: TestChainSummary
    var blocks: URL { root.appendingPathComponent("blocks") }

    init(network: Network, start: Int, blocks count: Int, seed: String = "activation", name: String = #function) throws {
        root = try TestPaths.temporaryDirectory(name)
        var options = TestChainOptions()
        options.network = network
        options.startHeight = start
        options.length = .blocks(count)
        options.seed = seed
        options.blockWeight = 40_000
        options.opMix.rate = 0.2
        summary = try TestChainGenerator.generate(options, out: root.path)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func directory() throws -> BlocksDirectory { try BlocksDirectory(path: blocks.path, network: summary.options.network) }

    /// Every main-chain block's bytes by height, read with the reader (no verification).
    func blockBytes(baseHeight: Int? = nil) throws -> [Int: [UInt8]] {
        let directory = try directory()
        let index = try ChainIndex(directory: directory, baseHeight: baseHeight)
        var out: [Int: [UInt8]] = [:]
        try BlockPass(directory: directory, index: index, options: BlockPassOptions(verify: false, threads: 2)).run(
            entries: index.bestChain, transform: { ($0.height!, Array($0.view.bytes)) }, consume: { _, value in out[value.0] = value.1 })
        return out
    }

    func cli(_ command: String, _ extra: [String] = []) throws -> ProcessResult {
        try runCLI([command, "--blocksdir", blocks.path, "--network", summary.options.network.rawValue] + extra)
    }
}

/// Block bytes with the coinbase's witness removed (the txids, so the merkle root, stay the same).
func strippingCoinbaseWitness(_ block: [UInt8]) throws -> [UInt8] {
    var header: BlockHeader?
    var transactions: [Transaction] = []
    try block.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
        var cursor = ByteCursor(raw)
        header = try BlockHeader(from: &cursor)
        let count = Int(try cursor.readCompactSize())
        for _ in 0..<count { transactions.append(try Transaction(from: &cursor)) }
    }
    let count = transactions.count
    transactions[0].inputs[0].witness = []
    var writer = ByteWriter(capacity: block.count)
    header!.encode(to: &writer)
    writer.writeCompactSize(count)
    for tx in transactions { tx.encode(to: &writer) }
    return writer.bytes
}

/// The height of the first JSON line of a `blocks --json` listing.
func firstHeight(_ listing: String) -> Int? {
    guard let line = listing.split(separator: "\n").first else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["height"] as? Int
}

func verifying(_ bytes: [UInt8], _ rules: BlockRules) -> String? {
    bytes.withUnsafeBytes { raw -> String? in
        do throws(WireError) {
            try BlockView.parse(raw).verify(rules: rules)
            return nil
        } catch {
            return error.description
        }
    }
}

@Suite struct ActivationHeightTests {
    @Test func networkParametersFollowCore() {
        #expect(Network.mainnet.consensus == ConsensusParameters(bip34Height: 227_931, bip66Height: 363_725, bip65Height: 388_381, segwitHeight: 481_824))
        #expect(Network.testnet3.consensus.bip34Height == 21_111 && Network.testnet3.consensus.segwitHeight == 834_624)
        #expect(Network.testnet4.consensus.rules(atHeight: 1) == BlockRules(height: 1, coinbaseHeight: true, minimumVersion: 4, segwit: true))
        #expect(Network.testnet4.consensus.rules(atHeight: 0).segwit == false)
        #expect(Network.regtest.consensus.rules(atHeight: 0).segwit)
        let main = Network.mainnet.consensus
        #expect(main.rules(atHeight: 227_930) == BlockRules(height: 227_930, coinbaseHeight: false, minimumVersion: 1, segwit: false))
        #expect(main.rules(atHeight: 227_931).minimumVersion == 2 && main.rules(atHeight: 227_931).coinbaseHeight)
        #expect(main.rules(atHeight: 363_725).minimumVersion == 3)
        #expect(main.rules(atHeight: 388_381).minimumVersion == 4)
        #expect(!main.rules(atHeight: 481_823).segwit && main.rules(atHeight: 481_824).segwit)
    }

    /// The 2017 case: before segwit activated, coinbases had a commitment output but no witness,
    /// which Core accepts; from 481,824 on the reserved value is required.
    @Test func mainnetAcrossSegwitActivation() throws {
        let chain = try PrunedChain(network: .mainnet, start: 481_600, blocks: 300)
        #expect(chain.summary.firstHeight == 481_600 && chain.summary.tipHeight == 481_899)
        let listing = try chain.cli("blocks", ["--txids", "--json"])
        #expect(listing.status == 0, "\(listing.stderr)")
        let heights = listing.stdout.split(separator: "\n").compactMap { line -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["height"] as? Int
        }
        #expect(heights == Array(481_600...481_899))

        let blocks = try chain.blockBytes()
        let main = Network.mainnet.consensus
        // The witness rules alone at a height (the block's own BIP34 height is another check).
        func witnessRules(_ height: Int) -> BlockRules {
            var rules = main.rules(atHeight: height)
            rules.coinbaseHeight = false
            return rules
        }
        let before = blocks[481_823]!
        let coinbaseHasWitness = try before.withUnsafeBytes { try BlockView.parse($0).transactions[0].hasWitness }
        let hasCommitment = try before.withUnsafeBytes { try BlockView.parse($0).witnessCommitment() != nil }
        #expect(!coinbaseHasWitness && hasCommitment)  // a commitment output, no witness: the 2017 shape
        #expect(verifying(before, main.rules(atHeight: 481_823)) == nil)
        #expect(verifying(before, witnessRules(481_824))?.contains("bad-witness-nonce-size") == true)

        // After activation: witness transactions, which Core refuses before it.
        let (height, after) = try #require((481_824...481_899).map { ($0, blocks[$0]!) }.first { _, block in
            block.withUnsafeBytes { (try? BlockView.parse($0).transactions.dropFirst().contains(where: \.hasWitness)) ?? false }
        })
        #expect(verifying(after, main.rules(atHeight: height)) == nil)
        #expect(verifying(after, witnessRules(481_823))?.contains("unexpected-witness") == true)
        let stripped = try strippingCoinbaseWitness(after)
        #expect(verifying(stripped, main.rules(atHeight: height))?.contains("bad-witness-nonce-size") == true)
        #expect(verifying(stripped, .contextFree) == nil)
    }

    @Test func preBIP34StartNeedsABaseHeight() throws {
        let chain = try PrunedChain(network: .mainnet, start: 227_800, blocks: 200)
        let refused = try chain.cli("blocks")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("predates BIP34 on mainnet") && refused.stderr.contains("--base-height"), "\(refused.stderr)")
        #expect(refused.stderr.contains("blk00000.dat at offset 0"))

        let given = try chain.cli("blocks", ["--base-height", "227800", "--json"])
        #expect(given.status == 0, "\(given.stderr)")
        let hashes = given.stdout.split(separator: "\n").compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["hash"] as? String
        }
        #expect(hashes == chain.summary.mainChain.map(\.displayHex))
        #expect(given.stdout.contains("\"height\":227931"))

        // A wrong base below BIP34 passes the root, but the first block that carries its height
        // (227,931) disagrees: the block pass stops there.
        let wrong = try chain.cli("blocks", ["--base-height", "227801"])
        #expect(wrong.status == 1)
        // (Block 227,930 taken for 227,931: its version 1 is refused before its coinbase is read.)
        #expect(wrong.stderr.contains("bad-version") || wrong.stderr.contains("bad-cb-height"), "\(wrong.stderr)")
        #expect(wrong.stderr.contains("at height 227931"))
    }

    @Test func baseHeightMustAgreeWithBIP34() throws {
        let chain = try PrunedChain(network: .mainnet, start: 300_000, blocks: 30)
        let read = try chain.cli("blocks", ["--json"])
        #expect(read.status == 0, "\(read.stderr)")
        #expect(firstHeight(read.stdout) == 300_000)
        let agree = try chain.cli("blocks", ["--base-height", "300000"])
        #expect(agree.status == 0)
        let disagree = try chain.cli("blocks", ["--base-height", "300001"])
        #expect(disagree.status == 1)
        #expect(disagree.stderr.contains("disagrees with the base height 300001"), "\(disagree.stderr)")
        let genesis = try runCLI(["blocks", "--datadir", TestPaths.packageRoot.appendingPathComponent("testdata").path,
                                  "--network", "regtest", "--base-height", "5"])
        #expect(genesis.status == 1 && genesis.stderr.contains("holds the genesis block"))
        let absurd = try chain.cli("blocks", ["--base-height", "-3"])
        #expect(absurd.status != 0 && absurd.status != 132)
    }

    @Test func testnet3AcrossBIP34AndOpsHeights() throws {
        let chain = try PrunedChain(network: .testnet3, start: 21_000, blocks: 200)
        #expect(try chain.cli("ops", ["--magic", "omni"]).status == 1)
        let ops = try chain.cli("ops", ["--magic", "omni", "--base-height", "21000"])
        #expect(ops.status == 0, "\(ops.stderr)")
        var checked = 0
        for line in ops.stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let height = try #require(object["height"] as? Int)
            #expect(object["block"] as? String == chain.summary.mainChain[height - 21_000].displayHex)
            checked += 1
        }
        #expect(checked > 0)
        #expect(checked == chain.summary.ops.first { $0.magic == "omni" }!.count)

        // Testnet3's segwit activation at 834,624: commitment outputs without reserved values
        // before it, witness transactions after it; all accepted, each where Core accepts it.
        let segwit = try PrunedChain(network: .testnet3, start: 834_400, blocks: 300, name: "testnet3segwit")
        let read = try segwit.cli("blocks", ["--txids"])
        #expect(read.status == 0, "\(read.stderr)")
        let blocks = try segwit.blockBytes()
        #expect(verifying(blocks[834_623]!, Network.testnet3.consensus.rules(atHeight: 834_623)) == nil)
        #expect((834_624...834_699).contains { height in
            blocks[height]!.withUnsafeBytes { (try? BlockView.parse($0).transactions.dropFirst().contains(where: \.hasWitness)) ?? false }
        })
    }

    @Test func testnet4AndSignetFromGenesis() throws {
        for network in [Network.testnet4, .signet] {
            let chain = try PrunedChain(network: network, start: 0, blocks: 130, name: "genesis\(network.rawValue)")
            let read = try chain.cli("blocks", ["--txids"])
            #expect(read.status == 0, "\(network): \(read.stderr)")
        }
        // Testnet4 pruned above its BIP34 height of 1: the height comes from the coinbase.
        let pruned = try PrunedChain(network: .testnet4, start: 50_000, blocks: 20)
        let read = try pruned.cli("blocks", ["--json"])
        #expect(read.status == 0 && firstHeight(read.stdout) == 50_000, "\(read.stderr)")
    }

    @Test func coinbaseHeightIsReadOnlyInItsCanonicalForm() throws {
        func coinbaseHeight(_ scriptSig: [UInt8]) throws -> Int? {
            let coinbase = Transaction(version: 1, inputs: [TxIn(previousOutput: .null, scriptSig: scriptSig)],
                                       outputs: [TxOut(value: 0, scriptPubKey: [Opcode.opReturn])])
            var writer = ByteWriter(capacity: 200)
            BlockHeader(version: 4, previousBlockHash: .zero, merkleRoot: coinbase.txid.rawHash, time: 0, bits: 0x207fffff, nonce: 0).encode(to: &writer)
            writer.writeCompactSize(1)
            coinbase.encode(to: &writer)
            return try writer.bytes.withUnsafeBytes { try BlockView.parse($0).coinbaseHeight }
        }
        #expect(try coinbaseHeight(Script.pushNumber(227_931) + [1, 2]) == 227_931)
        #expect(try coinbaseHeight(Script.pushNumber(16) + [1, 2]) == 16)
        #expect(try coinbaseHeight([Opcode.op0, 1, 2]) == 0)
        #expect(try coinbaseHeight([3, 0x5b, 0x7a, 0x03, 7]) == 227_931)
        #expect(try coinbaseHeight([4, 0x5b, 0x7a, 0x03, 0x00, 7]) == nil)  // 4-byte push of a 3-byte number: not minimal
        #expect(try coinbaseHeight([4, 0x79, 0x20, 0x4f, 0x51, 1, 2]) == 1_364_140_153)  // a time: read, then judged by the reader
        #expect(try coinbaseHeight([2, 0x01, 0x80]) == nil)                       // negative
        #expect(try coinbaseHeight([0x4c, 1, 7]) == nil)                          // PUSHDATA1 is never BIP34's form
    }
}
