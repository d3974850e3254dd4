import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Virtualchain

/// Records the order of calls: `scanBlock` stores how many operations it saw, and `check` reads
/// that back (so it must have run first); `commit` returns as many records as the payload's
/// first byte says; every candidate's inputs are kept.
struct Ledger: StateMachine {
    static let identity = "ledger"
    static var version: Int { 1 }
    let magic = Array("id".utf8)
    let firstBlock = 1
    let opcodes: Set<UInt8> = [UInt8(ascii: "L")]
    var migrations = ["CREATE TABLE scans (height INTEGER PRIMARY KEY, operations INTEGER NOT NULL)",
                      "CREATE TABLE inputs (txid TEXT, previous TEXT, script BLOB)"]

    struct Operation { var records: Int; var txid: Txid; var inputs: [TxIn] }

    func parse(_ candidate: Candidate) -> Operation? {
        candidate.payload.first.map { Operation(records: Int($0), txid: candidate.txid, inputs: candidate.inputs) }
    }

    func scanBlock(_ operations: [Operation], in block: BlockContext) throws {
        try block.database.execute("INSERT INTO scans VALUES (?, ?)", [block.height, operations.count])
    }

    func check(_ op: Operation, in block: BlockContext) throws {
        guard try block.database.fetchOne(Int.self, "SELECT operations FROM scans WHERE height = ?", [block.height]) != nil else {
            throw Rejection("not scanned")
        }
    }

    func commit(_ op: Operation, in block: BlockContext) throws -> [ConsensusRecord] {
        for input in op.inputs {
            try block.database.execute("INSERT INTO inputs VALUES (?, ?, ?)", [op.txid.displayHex, input.previousOutput.txid.displayHex, input.scriptSig])
        }
        return (0..<op.records).map { ConsensusRecord(opcode: UInt8(ascii: "L"), fields: [.text(op.txid.displayHex), .integer(Int64($0))]) }
    }
}

/// The ledger at version 2: one more migration.
struct LedgerV2: StateMachine {
    static let identity = "ledger"
    static let version = 2
    var base = Ledger()
    var magic: [UInt8] { base.magic }
    var firstBlock: Int { base.firstBlock }
    var opcodes: Set<UInt8> { base.opcodes }
    var migrations: [String] { base.migrations + ["ALTER TABLE scans ADD COLUMN note TEXT DEFAULT 'v2'"] }
    func parse(_ candidate: Candidate) -> Ledger.Operation? { base.parse(candidate) }
    func check(_ op: Ledger.Operation, in block: BlockContext) throws { try base.check(op, in: block) }
    func commit(_ op: Ledger.Operation, in block: BlockContext) throws -> [ConsensusRecord] { try base.commit(op, in: block) }
}

@Suite struct MachineAPITests {
    func ledgerBlock(payloads: [UInt8]) -> (block: [UInt8], undo: [UInt8]) {
        let transactions = payloads.enumerated().map { i, records in
            Transaction(version: 2, inputs: [TxIn(previousOutput: OutPoint(txid: Txid(Hash256(bytes: [UInt8](repeating: UInt8(i + 1), count: 32))), index: 3),
                                                  scriptSig: [0x51, UInt8(i)])],
                        outputs: [TxOut(value: 0, scriptPubKey: Script.nullData(Array("id".utf8) + [UInt8(ascii: "L"), records])),
                                  TxOut(value: 1_000, scriptPubKey: [0x51])])
        }
        return (regtestBlock(transactions), undoData(forTransactions: payloads.count))
    }

    @Test func scanBlockSeesEveryOperationFirstAndCommitReturnsAnyNumberOfRecords() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
        let (block, undo) = ledgerBlock(payloads: [0, 1, 3])
        let outcome = try engine.process(block: block, height: 1, undo: undo)
        #expect(outcome.accepted == 3 && outcome.rejected == 0)
        let machineView = MachineDatabase(engine.store.database)
        #expect(try machineView.fetchOne(Int.self, "SELECT operations FROM scans WHERE height = 1") == 3)
        // Zero, one and three records: four in all, in commit order.
        let records = try engine.store.records(atHeight: 1)
        #expect(records.count == 4)
        #expect(Set(records.compactMap(\.vtxindex)) == [2, 3])
        // The inputs of each candidate: outpoint and scriptSig.
        let inputs = try machineView.fetchAll("SELECT previous, script FROM inputs ORDER BY previous")
        #expect(try inputs.map { try $0.get("previous", as: String.self) } == (1...3).map { Hash256(bytes: [UInt8](repeating: UInt8($0), count: 32)).displayHex })
        #expect(try inputs.map { try $0.get("script", as: [UInt8].self) } == [[0x51, 0], [0x51, 1], [0x51, 2]])
    }

    /// As the original's `db_scan_block`: every block is scanned, with an empty list where it
    /// carries no operation, including one whose only candidate the machine drops.
    @Test func scanBlockIsCalledForEveryBlock() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
        let (block, undo) = ledgerBlock(payloads: [])
        try engine.process(block: block, height: 1, undo: undo)
        let machineView = MachineDatabase(engine.store.database)
        #expect(try machineView.fetchOne(Int.self, "SELECT operations FROM scans WHERE height = 1") == 0)
    }

    /// An applied migration step edited afterwards, or dropped from the code, makes the state one
    /// of other rules: refused, not replayed on.
    @Test func aStateWhoseAppliedMigrationsDifferIsRefused() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
        var edited = Ledger()
        edited.migrations[1] = "CREATE TABLE inputs (txid TEXT, previous TEXT, script BLOB, note TEXT)"
        #expect(throws: StateStoreError.self) { _ = try Engine(machine: edited, stateDirectory: root.path, network: .regtest) }
        var shorter = Ledger()
        shorter.migrations.removeLast()
        #expect(throws: StateStoreError.self) { _ = try Engine(machine: shorter, stateDirectory: root.path, network: .regtest) }
        // The same steps, and the same plus a new one (a new version), open.
        _ = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
        _ = try Engine(machine: LedgerV2(), stateDirectory: root.path, network: .regtest)
    }

    /// A machine that writes its values into the SQL text makes a statement per call: the cache
    /// of prepared statements stays bounded, and its queries keep answering.
    @Test func theStatementCacheStaysBounded() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
        let machineView = MachineDatabase(engine.store.database)
        for i in 0..<(3 * SQLiteDatabase.statementCacheLimit) {
            #expect(try machineView.fetchOne(Int.self, "SELECT \(i)") == i)
            #expect(engine.store.database.cachedStatements <= SQLiteDatabase.statementCacheLimit)
        }
    }

    @Test func aMachineCannotTouchTransactionsSettingsOrTheEnginesTables() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
        let machineView = MachineDatabase(engine.store.database)
        for sql in ["BEGIN", "COMMIT", "SAVEPOINT x", "RELEASE x", "INSERT INTO vc_blocks VALUES (9, 'a', 'b', 'c', 0, 0)",
                    "DELETE FROM vc_records", "UPDATE vc_meta SET value = 'x'", "DROP TABLE vc_counts", "CREATE TABLE vc_mine (x)",
                    "PRAGMA journal_mode=DELETE", "ATTACH DATABASE ':memory:' AS other"] {
            #expect(throws: SQLiteError.self, "\(sql)") { try machineView.execute(sql) }
        }
        // Its own tables, reads of the engine's, and reading a pragma are fine.
        try machineView.execute("INSERT INTO scans VALUES (?, ?)", [7, 2])
        #expect(try machineView.fetchOne(Int.self, "SELECT operations FROM scans WHERE height = ?", [7]) == 2)
        #expect(try machineView.fetchOne(Int.self, "SELECT count(*) FROM vc_blocks") == 0)
        #expect(try machineView.fetchOne(String.self, "PRAGMA journal_mode") == "wal")
        #expect(try machineView.exists("SELECT 1 FROM scans WHERE height = 7"))
        #expect(throws: DatabaseTypeError.self) { try machineView.fetchOne(Int.self, "SELECT 'text'") }
        // A migration may not write the engine's tables either.
        var sneaky = Ledger()
        sneaky.migrations.append("DELETE FROM vc_meta")
        #expect(throws: SQLiteError.self) { try Engine(machine: sneaky, stateDirectory: root.path, network: .regtest) }
    }

    @Test func aNewVersionRunsItsNewMigrationsOnAnExistingStateAndAnOlderOneIsRefused() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        do {
            let engine = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
            let (block, undo) = ledgerBlock(payloads: [1])
            try engine.process(block: block, height: 1, undo: undo)
            engine.close()
        }
        do {
            let engine = try Engine(machine: LedgerV2(), stateDirectory: root.path, network: .regtest)
            #expect(try engine.store.meta()?.version == 2)
            #expect(try MachineDatabase(engine.store.database).fetchOne(String.self, "SELECT note FROM scans WHERE height = 1") == "v2")
            #expect(engine.consensus.nextHeight == 2)  // the history stays
            engine.close()
        }
        #expect(throws: EngineError.self) { try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest) }
    }
}
