import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Virtualchain

/// Writes in `check` and in `commit`, then rejects operations whose payload starts with 0x00.
struct SecondThoughts: StateMachine {
    static let identity = "second-thoughts"
    static let version = 1
    let magic = Array("id".utf8)
    let firstBlock = 1
    let opcodes: Set<UInt8> = [UInt8(ascii: "?")]
    let migrations = ["CREATE TABLE checked (payload BLOB)", "CREATE TABLE committed (payload BLOB)"]

    func parse(_ candidate: Candidate) -> [UInt8]? { candidate.payload }

    func check(_ payload: [UInt8], in block: BlockContext) throws {
        try block.database.execute("INSERT INTO checked VALUES (?)", [payload])
    }

    func commit(_ payload: [UInt8], in block: BlockContext) throws -> [ConsensusRecord] {
        try block.database.execute("INSERT INTO committed VALUES (?)", [payload])
        if payload.first == 0 { throw Rejection("second thoughts") }
        return [ConsensusRecord(opcode: UInt8(ascii: "?"), fields: [.text(Hex.encode(payload))])]
    }
}

@Suite struct SavepointTests {
    /// A rejection thrown after the machine wrote keeps none of those writes; the block's other
    /// operations and its records are committed as usual.
    @Test func aRejectionAfterWritesLeavesNoTrace() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        func operation(_ payload: [UInt8], _ seed: UInt8) -> Transaction {
            Transaction(version: 2, inputs: [TxIn(previousOutput: OutPoint(txid: Txid(Hash256(bytes: [UInt8](repeating: seed, count: 32))), index: 0), scriptSig: [0x51])],
                        outputs: [TxOut(value: 0, scriptPubKey: Script.nullData(Array("id".utf8) + [UInt8(ascii: "?")] + payload)),
                                  TxOut(value: 1_000, scriptPubKey: [0x51])])
        }
        let block = regtestBlock([operation([0, 1, 2], 1), operation([7, 8, 9], 2)])
        var undo = ByteWriter(capacity: 100)
        undo.writeCompactSize(2)
        for _ in 0..<2 {
            undo.writeCompactSize(1)
            UndoFormat.writeCoin(TxOut(value: 5_000, scriptPubKey: [0x51]), height: 0, isCoinbase: false, to: &undo)
        }
        let engine = try Engine(machine: SecondThoughts(), stateDirectory: root.path, network: .regtest)
        let outcome = try engine.process(block: block, height: 1, undo: undo.bytes)
        #expect(outcome.accepted == 1 && outcome.rejected == 1)
        let db = engine.store.database
        #expect(try db.run("SELECT payload FROM checked").map { $0[0].blob! } == [[7, 8, 9]])
        #expect(try db.run("SELECT payload FROM committed").map { $0[0].blob! } == [[7, 8, 9]])
        #expect(try db.run("SELECT count(*) FROM vc_records")[0][0].int == 1)
        #expect(try engine.store.counts().contains { $0.kind == "rejected:second thoughts" && $0.count == 1 })
    }
}
