import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Virtualchain

@Suite struct FileSnapshotTests {
    /// The database file as it is now, read through the snapshot's descriptor (the store's own:
    /// a descriptor of ours, closed, would drop SQLite's locks on the file).
    func contents(_ snapshot: StateStore.FileSnapshot) throws -> Data {
        var info = stat()
        try #require(fstat(snapshot.descriptor, &info) == 0)
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        let read = bytes.withUnsafeMutableBytes { pread(snapshot.descriptor, $0.baseAddress, $0.count, 0) }
        try #require(read == bytes.count)
        return Data(bytes)
    }

    /// While a file snapshot is held, commits go to SQLite's log and the database file keeps the
    /// snapshot's bytes (a checkpoint streams from it); ending it lets the log into the file.
    @Test func theDatabaseFileHoldsStillWhileCommitsContinue() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = try Engine(machine: Ledger(), stateDirectory: root.path, network: .regtest)
        let blocks = MachineAPITests()
        let (first, firstUndo) = blocks.ledgerBlock(payloads: [1])
        try engine.process(block: first, height: 1, undo: firstUndo)
        let snapshot = try #require(try engine.store.beginFileSnapshot())
        let frozen = try contents(snapshot)
        #expect(frozen.count == snapshot.bytes)
        for height in 2...40 {
            let (block, undo) = blocks.ledgerBlock(payloads: [UInt8(height % 3)])
            try engine.process(block: block, height: height, undo: undo)
        }
        // More than SQLite's automatic checkpoint threshold (1,000 pages) in one commit: without
        // the snapshot this would be copied into the database file at once.
        let database = engine.store.database
        try database.execute("CREATE TABLE filler (x BLOB)")
        try database.transaction {
            for _ in 0..<80 { try database.run("INSERT INTO filler VALUES (?)", [.blob([UInt8](repeating: 1, count: 64_000))]) }
        }
        #expect(try contents(snapshot) == frozen)
        // The frozen file is the state at the snapshot: one block.
        let copy = root.appendingPathComponent("copy.sqlite")
        try frozen.write(to: copy)
        #expect(try StateStore.describe(databaseAt: copy.path).tip?.height == 1)
        try engine.store.endFileSnapshot()
        #expect(try engine.store.tip()?.height == 40)
        _ = try database.transaction { try database.run("INSERT INTO filler VALUES (?)", [.blob([1])]) }
        #expect(try contents(snapshot) != frozen)
    }
}
