import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import Checkpoints
import ConsensusHashing
@testable import Importer
@testable import Virtualchain

@Suite struct CheckpointWriterTests {
    func header(height: Int, size: Int) -> CheckpointHeader {
        CheckpointHeader(machine: "m", machineVersion: 1, network: "regtest", firstBlock: 1, height: height,
                         blockHash: BlockHash(displayHex: String(repeating: "ab", count: 32))!,
                         consensusHash: ConsensusDigest(hex: String(repeating: "cd", count: 16))!,
                         payloadSHA256: "", payloadBytes: size)
    }

    /// Both ways of taking a checkpoint give a file whose payload is the state: streamed from the
    /// frozen database file, and, when another reader keeps SQLite's log from being checkpointed
    /// into the file, from an image in memory.
    @Test func streamedAndInMemoryCheckpointsHoldTheState() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try StateStore(directory: root.path)
        try store.database.execute("CREATE TABLE t (x BLOB)")
        _ = try store.database.transaction { try store.database.run("INSERT INTO t VALUES (?)", [.blob([UInt8](repeating: 3, count: 200_000))]) }
        let checkpoints = CheckpointStore(stateDirectory: root.path)
        let writer = CheckpointWriter(store: checkpoints, retention: CheckpointStore.Retention(keep: 5, keepEvery: 1000))
        try writer.checkpoint(state: store) { header(height: 1, size: $0) }
        // A reader holding a read transaction: the log cannot be checkpointed completely.
        let reader = try SQLiteDatabase(path: root.path + "/" + StateStore.fileName)
        _ = try store.database.transaction { try store.database.run("INSERT INTO t VALUES (?)", [.blob([4])]) }
        try reader.execute("BEGIN")
        _ = try reader.run("SELECT count(*) FROM t")
        _ = try store.database.transaction { try store.database.run("INSERT INTO t VALUES (?)", [.blob([5])]) }
        #expect(try store.beginFileSnapshot() == nil)
        try writer.checkpoint(state: store) { header(height: 2, size: $0) }
        _ = try writer.finish()
        try reader.execute("COMMIT")
        reader.close()
        let entries = try checkpoints.verifyAll()
        #expect(entries.count == 2 && entries.allSatisfy(\.ok), "\(entries.map { $0.problem ?? "ok" })")
        for (entry, rows) in zip(entries, [1, 3]) {
            let (_, payload) = checkpoints.inspect(entry.path, payload: true)
            let image = root.appendingPathComponent("image-\(rows).sqlite")
            try Data(try #require(payload)).write(to: image)
            let copy = try SQLiteDatabase(path: image.path, readOnly: true)
            #expect(try copy.run("SELECT count(*) FROM t")[0][0].int == rows)
            copy.close()
        }
    }
}
