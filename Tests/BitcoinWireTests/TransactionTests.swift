import Foundation
import Testing
import TestSupport
@testable import BitcoinWire

@Suite struct TransactionTests {
    @Test func segwitRoundTripAndIds() throws {
        let tx = Transaction(
            version: 2,
            inputs: [TxIn(previousOutput: OutPoint(txid: Txid(Hashes.sha256([1])), index: 3), scriptSig: [], sequence: 0xffff_fffd,
                          witness: [[0x01, 0x02], [0x51]])],
            outputs: [TxOut(value: 1234, scriptPubKey: Script.p2wpkh([UInt8](repeating: 7, count: 20)))])
        let bytes = tx.serialized()
        #expect(bytes[4] == 0 && bytes[5] == 1)  // BIP144 marker and flag
        let decoded = try bytes.withUnsafeBytes { buffer in
            var cursor = ByteCursor(buffer)
            let tx = try Transaction(from: &cursor)
            #expect(cursor.isAtEnd)
            return tx
        }
        #expect(decoded == tx)
        #expect(decoded.txid.rawHash == Hashes.dsha256(tx.serialized(witness: false)))
        #expect(decoded.wtxid.rawHash == Hashes.dsha256(bytes))
        #expect(decoded.txid.rawHash != decoded.wtxid.rawHash)
    }

    @Test func superfluousWitnessRecordIsRejected() throws {
        // Marker and flag set but every witness empty: Core rejects this encoding.
        var writer = ByteWriter()
        writer.writeLE(Int32(1)); writer.write(0); writer.write(1)
        writer.writeCompactSize(1); writer.write(Hash256.zero); writer.writeLE(UInt32(0)); writer.writeCompactSize(0); writer.writeLE(UInt32(0))
        writer.writeCompactSize(1); writer.writeLE(Int64(0)); writer.writeCompactSize(0)
        writer.writeCompactSize(0)
        writer.writeLE(UInt32(0))
        #expect(throws: WireError.self) {
            try writer.bytes.withUnsafeBytes { buffer in
                var cursor = ByteCursor(buffer)
                _ = try Transaction(from: &cursor)
            }
        }
    }

    @Test func truncatedTransactionReportsOffset() throws {
        let tx = Transaction(version: 1, inputs: [TxIn(previousOutput: .null, scriptSig: [1, 2, 3])],
                             outputs: [TxOut(value: 5, scriptPubKey: [0x51])])
        let bytes = Array(tx.serialized().dropLast(3))
        let error = bytes.withUnsafeBytes { buffer -> WireError? in
            var cursor = ByteCursor(buffer)
            do throws(WireError) { _ = try Transaction(from: &cursor); return nil } catch { return error }
        }
        #expect(error?.offset == bytes.count - 1)
    }

    @Test(.enabled(if: TestPaths.corpusAvailable || TestPaths.inCI, "needs ../shared/corpus (real mainnet data); in CI it fails without it"))
    func megaTransactionFromMainnet() throws {
        let data = try Data(contentsOf: TestPaths.corpus.appendingPathComponent("mainnet/megatx.bin"))
        let tx = try [UInt8](data).withUnsafeBytes { buffer in
            var cursor = ByteCursor(buffer)
            let tx = try Transaction(from: &cursor)
            #expect(cursor.isAtEnd)
            return tx
        }
        #expect(tx.inputs.count == 5569)
        #expect(tx.txid.displayHex == "bb41a757f405890fb0f5856228e23b715702d714d59bf2b1feb70d8b2b4e3e08")
    }
}

/// The witness tree's leaves of a real segwit block, hashed two at a time, equal each
/// transaction's own wtxid (OpenSSL, one at a time), and the block's witness commitment holds.
@Suite struct WitnessLeavesTests {
    @Test(.enabled(if: TestPaths.corpusAvailable || TestPaths.inCI, "needs ../shared/corpus (real mainnet data); in CI it fails without it"))
    func leavesOfARealSegwitBlock() throws {
        let url = TestPaths.corpus.appendingPathComponent("mainnet/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk")
        let bytes = [UInt8](try Data(contentsOf: url))
        try bytes.withUnsafeBytes { raw in
            let view = try BlockView.parse(raw)
            let txids = view.txids()
            let leaves = view.wtxidLeaves(txids: txids)
            #expect(leaves.count == view.transactions.count && leaves[0] == .zero)
            #expect(view.transactions.filter(\.hasWitness).count == 104)
            for i in 1..<view.transactions.count {
                #expect(leaves[i] == view.transactions[i].wtxid().rawHash, "transaction \(i)")
            }
            try view.verify(txids: txids, rules: .contextFree)
            try view.verify(txids: txids, rules: BlockRules(height: 540_107, coinbaseHeight: true, minimumVersion: 4, segwit: true))
        }
    }
}
