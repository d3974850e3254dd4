import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import Names
@testable import TestChain
@testable import Virtualchain

/// A regtest block at height 1 on the genesis block, with real proof of work and merkle root:
/// the coinbase and `transactions`.
func regtestBlock(_ transactions: [Transaction]) -> [UInt8] {
    let coinbase = Transaction(version: 1, inputs: [TxIn(previousOutput: .null, scriptSig: Script.pushNumber(1) + [0x01, 0x00])],
                               outputs: [TxOut(value: 50 * 100_000_000, scriptPubKey: Script.p2pkh([UInt8](repeating: 1, count: 20)))])
    let all = [coinbase] + transactions
    var header = BlockHeader(version: 0x2000_0000, previousBlockHash: Network.regtest.genesisHash,
                             merkleRoot: Merkle.root(all.map(\.txid)).root, time: 1_296_688_700, bits: 0x207f_ffff, nonce: 0)
    _ = BlockAssembler.mine(&header)
    var writer = ByteWriter(capacity: 1000)
    header.encode(to: &writer)
    writer.writeCompactSize(all.count)
    for tx in all { tx.encode(to: &writer) }
    return writer.bytes
}

/// `CBlockUndo` bytes for a block of `transactions` non-coinbase transactions of one input each,
/// every input spending 5,000 sat to `OP_1`.
func undoData(forTransactions transactions: Int) -> [UInt8] {
    var undo = ByteWriter(capacity: 100)
    undo.writeCompactSize(transactions)
    for _ in 0..<transactions {
        undo.writeCompactSize(1)
        UndoFormat.writeCoin(TxOut(value: 5_000, scriptPubKey: [0x51]), height: 0, isCoinbase: false, to: &undo)
    }
    return undo.bytes
}

/// A transaction carrying a names operation (`id` + preorder opcode) that pays `values`.
func candidateTransaction(paying values: [Int64], inputs: Int = 1) -> Transaction {
    let spends = (0..<inputs).map { TxIn(previousOutput: OutPoint(txid: Txid(Hash256(bytes: [UInt8](repeating: UInt8($0 + 7), count: 32))), index: 0), scriptSig: [0x51]) }
    let payload = Array("id".utf8) + [UInt8(ascii: "?")] + [UInt8](repeating: 0xab, count: 40)
    return Transaction(version: 2, inputs: spends,
                       outputs: [TxOut(value: 0, scriptPubKey: Script.nullData(payload))]
                           + values.map { TxOut(value: $0, scriptPubKey: Script.p2pkh([UInt8](repeating: 2, count: 20))) })
}

@Suite struct MoneyRangeTests {
    /// The crash: a candidate paying 2^63-1 twice, in a directory without rev files.
    /// Now an error naming the file offset, the block and the transaction; never a trap.
    @Test func outputsAboveTheMoneyRangeStopTheImportWithAnError() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let blocks = root.appendingPathComponent("blocks")
        try FileManager.default.createDirectory(at: blocks, withIntermediateDirectories: true)
        let block = regtestBlock([candidateTransaction(paying: [.max, .max])])
        let record = { (bytes: [UInt8]) in Network.regtest.magic + withUnsafeBytes(of: UInt32(bytes.count).littleEndian, Array.init) + bytes }
        try Data(record(Network.regtest.genesisBlock.serialized) + record(block)).write(to: blocks.appendingPathComponent("blk00000.dat"))

        let state = root.appendingPathComponent("state")
        let result = try runCLI(["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path, "--quiet"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("outside 0...21,000,000 BTC"), "\(result.stderr)")
        #expect(result.stderr.contains("transaction 1"))
        #expect(result.stderr.contains("blk00000.dat at offset"))
        // Also with verification off: the bound is the parser's, not an optional check.
        let unverified = try runCLI(["ops", "--blocksdir", blocks.path, "--network", "regtest", "--magic", "id", "--no-verify"])
        #expect(unverified.status == 1 && unverified.stderr.contains("bad-txns-vout-toolarge"))

        // Each value in range, but the total above it.
        let total = regtestBlock([candidateTransaction(paying: [Money.maxMoney, 1])])
        let totalError = total.withUnsafeBytes { raw -> String? in
            do throws(WireError) { _ = try BlockView.parse(raw); return nil } catch { return error.description }
        }
        #expect(totalError?.contains("bad-txns-txouttotal-toolarge") == true)
    }

    private func extract(_ block: [UInt8], spent: [[SpentCoin]]?) throws -> [Candidate] {
        try block.withUnsafeBytes { raw in
            let view = try BlockView.parse(raw)
            return try CandidateExtraction.candidates(in: view, height: 1, hash: view.hash,
                                                      filter: OperationFilter(magic: Array("id".utf8), opcodes: [UInt8(ascii: "?")]),
                                                      spent: spent.map { SpentCoins(all: $0) }, fallback: [:])
        }
    }

    private func coin(_ value: Int64) -> SpentCoin {
        SpentCoin(output: TxOut(value: value, scriptPubKey: Script.p2pkh([UInt8](repeating: 3, count: 20))), height: 1, isCoinbase: false)
    }

    @Test func sendersAndFeesAreSummedWithinTheMoneyRange() throws {
        let block = regtestBlock([candidateTransaction(paying: [1_000], inputs: 2)])
        let candidates = try extract(block, spent: [[coin(600), coin(900)]])
        #expect(candidates.count == 1 && candidates[0].fee == 500)

        // Spent values whose sum leaves the range (each alone is in it).
        #expect {
            try extract(block, spent: [[coin(Money.maxMoney), coin(Money.maxMoney)]])
        } throws: { ($0 as? CandidateValueError)?.message.contains("bad-txns-inputvalues-outofrange") == true }
        // A value no undo record can hold.
        #expect {
            try extract(block, spent: [[coin(Int64.max), coin(Int64.max)]])
        } throws: { ($0 as? CandidateValueError)?.message.contains("bad-txns-inputvalues-outofrange") == true }
        // Spending less than it pays.
        #expect {
            try extract(block, spent: [[coin(100), coin(100)]])
        } throws: { error in
            guard let error = error as? CandidateValueError else { return false }
            return error.message.contains("bad-txns-in-belowout") && error.vtxindex == 1 && error.blockOffset > 80
        }
        // Without undo data nothing is summed: senders stay unresolved.
        #expect(try extract(block, spent: nil)[0].senders == .unresolved)
    }

    @Test func undoRecordsWithOutOfRangeSumsDoNotFitABlock() throws {
        let block = regtestBlock([candidateTransaction(paying: [1_000], inputs: 2)])
        try block.withUnsafeBytes { raw in
            let view = try BlockView.parse(raw)
            #expect(SenderResolver.fits([[coin(600), coin(900)]], view))
            #expect(!SenderResolver.fits([[coin(Money.maxMoney), coin(Money.maxMoney)]], view))
            #expect(!SenderResolver.fits([[coin(100), coin(100)]], view))
            // Found by FuzzCandidates: a record with fewer transactions than the block.
            #expect(!SenderResolver.fits([], view))
            #expect(!SenderResolver.fits([[coin(600), coin(900)], [coin(1)]], view))
            // The replay's decoder (candidates' coins only, the rest walked without allocating)
            // agrees with the full decoder and `fits` on each record.
            for coins in [[[coin(600), coin(900)]], [[coin(Money.maxMoney), coin(Money.maxMoney)]], [[coin(100), coin(100)]], [],
                          [[coin(600), coin(900)], [coin(1)]], [[coin(600)]]] {
                var writer = ByteWriter(capacity: 100)
                writer.writeCompactSize(coins.count)
                for spent in coins {
                    writer.writeCompactSize(spent.count)
                    for c in spent { UndoFormat.writeCoin(c.output, height: c.height, isCoinbase: c.isCoinbase, to: &writer) }
                }
                for wanted in [[], [1]] {
                    let lazy = try writer.bytes.withUnsafeBytes { try SenderResolver.decode($0, ifItFits: view, keeping: wanted) }
                    #expect((lazy != nil) == SenderResolver.fits(coins, view), "\(coins.map { $0.map(\.output.value) }) keeping \(wanted)")
                    if let lazy, wanted == [1] { #expect(lazy[1] == coins[0]) }
                    if let lazy, wanted.isEmpty { #expect(lazy[1] == nil) }
                }
            }
        }
    }

    @Test func namesBurnTotalsOutsideTheRangeCarryNoOperation() {
        let machine = NamesMachine(firstBlock: 1)
        let payload = [UInt8](repeating: 0xab, count: 36)  // a preorder: hash160 and consensus hash
        func candidate(burning values: [Int64]) -> Candidate {
            Candidate(height: 5, blockHash: .zero, txid: .zero, vtxindex: 1, opcode: UInt8(ascii: "?"), payload: payload,
                      outputs: [TxOut(value: 0, scriptPubKey: [Opcode.opReturn])] + values.map { TxOut(value: $0, scriptPubKey: NamesMachine.burnScript) },
                      senders: .resolved([Sender(scriptPubKey: [0x51], value: 10_000)]), fee: nil)
        }
        #expect(machine.parse(candidate(burning: [5_000, 6_000])) != nil)
        #expect(machine.parse(candidate(burning: [.max, .max])) == nil)
        #expect(machine.parse(candidate(burning: [-1])) == nil)
    }
}
