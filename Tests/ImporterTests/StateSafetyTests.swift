import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import Checkpoints
@testable import Importer
@testable import TestChain
@testable import Virtualchain

/// What the importer may never do to a state: call "cannot access" damage, trust a checkpoint's
/// header over its image, or delete a state that the blocks at hand cannot rebuild.
@Suite(.serialized) struct StateSafetyTests {
    let chain = CheckpointChain.shared

    func importedState(_ root: URL, every: Int = 100) throws -> URL {
        let state = root.appendingPathComponent("state")
        let result = try cli(importArguments(chain.blocks, state, ["--checkpoint-every", String(every)]))
        #expect(result.status == 0, "\(result.stderr)")
        return state
    }

    func listing(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    /// A second run on a disk that cannot take SQLite's files (SQLite makes its shared-memory file
    /// when it opens a state; a full disk refuses it): the error says what the system said, not
    /// only SQLite's "disk I/O error", and nothing is changed. A file-size limit below that file's
    /// 32 KiB stands for the full disk (`ulimit -f`, with SIGXFSZ ignored so writes fail instead).
    @Test func aDiskThatCannotTakeSQLitesFilesIsNamedByTheSystemsWords() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        #expect(try cli(importArguments(chain.blocks, state, ["--until", "50"])).status == 0)
        let before = try tableRows(state, "SELECT max(height) FROM vc_blocks")
        let command = ([TestPaths.executable.path] + importArguments(chain.blocks, state)).map { "'\($0)'" }.joined(separator: " ")
        let limited = try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "trap '' XFSZ; ulimit -f 8; exec \(command)"])
        #expect(limited.status == 1)
        #expect(limited.stderr.contains("disk I/O error (File too large)"), "\(limited.stderr)")
        #expect(limited.stderr.contains("nothing was changed"), "\(limited.stderr)")
        #expect(try tableRows(state, "SELECT max(height) FROM vc_blocks") == before)
        #expect(try cli(importArguments(chain.blocks, state)).status == 0)
        #expect(try exportOf(state) == chain.referenceExport)
    }

    /// A directory where the state database should be: an error, nothing moved aside or replaced.
    @Test func aStateThatCannotBeOpenedIsNotCalledDamaged() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = try importedState(root)
        let database = state.appendingPathComponent(StateStore.fileName)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
        try FileManager.default.createDirectory(at: database, withIntermediateDirectories: false)
        let before = try listing(state)
        let result = try cli(importArguments(chain.blocks, state))
        #expect(result.status == 1)
        #expect(result.stderr.contains("is a directory, not a state database; nothing was changed"), "\(result.stderr)")
        #expect(try listing(state) == before)
        #expect(!result.stderr.contains("damaged"))
    }

    /// A checkpoints directory or checkpoint file that cannot be read is not "no checkpoints":
    /// the import stops rather than replay from scratch, and touches nothing.
    @Test func unreadableCheckpointsStopTheImport() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = try importedState(root)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: state.appendingPathComponent(StateStore.fileName).path + suffix) }
        let checkpoints = state.appendingPathComponent("checkpoints")
        let moved = root.appendingPathComponent("checkpoints-moved")
        try FileManager.default.moveItem(at: checkpoints, to: moved)
        try Data("not a directory".utf8).write(to: checkpoints)
        var before = try listing(state)
        var result = try cli(importArguments(chain.blocks, state))
        #expect(result.status == 1)
        #expect(result.stderr.contains("checkpoints is not a directory"), "\(result.stderr)")
        #expect(try listing(state) == before)

        // A checkpoint the process cannot read (here: a directory under its name).
        try FileManager.default.removeItem(at: checkpoints)
        try FileManager.default.moveItem(at: moved, to: checkpoints)
        let newest = try #require(try CheckpointStore(stateDirectory: state.path).paths().last)
        try FileManager.default.removeItem(atPath: newest)
        try FileManager.default.createDirectory(atPath: newest, withIntermediateDirectories: false)
        before = try listing(state)
        result = try cli(importArguments(chain.blocks, state))
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(newest): cannot be read"), "\(result.stderr)")
        #expect(try listing(state) == before)
    }

    /// A checkpoint whose header names another height than its database image holds is refused
    /// like a damaged one; the next older checkpoint is restored.
    @Test func aCheckpointWhoseHeaderLiesIsRejected() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = try importedState(root)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: state.appendingPathComponent(StateStore.fileName).path + suffix) }
        let store = CheckpointStore(stateDirectory: state.path)
        let paths = try store.paths()
        let newest = paths[paths.count - 1], older = paths[paths.count - 2]
        var header = try #require(store.inspect(newest, payload: false).entry.header)
        let olderPayload = try #require(store.inspect(older, payload: true).payload)
        header.payloadBytes = olderPayload.count
        header.payloadSHA256 = Hex.encode(Hashes.sha256(olderPayload).bytes)
        let lying = try olderPayload.withUnsafeBytes { try CheckpointFile.encode(header: header, payload: $0) }
        try Data(lying).write(to: URL(fileURLWithPath: newest))
        #expect(store.inspect(newest, payload: true).entry.ok)  // the file itself verifies
        let result = try cli(importArguments(chain.blocks, state).filter { $0 != "--quiet" })
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("checkpoint \(newest) skipped: its database image ends at height 200"), "\(result.stderr)")
        #expect(result.stderr.contains("restored the checkpoint at height 200"), "\(result.stderr)")
        #expect(try exportOf(state) == chain.referenceExport)
    }

    /// A reorganisation with no checkpoint at or below the fork, on a directory that no longer
    /// holds the machine's first block: the state is kept as it was. With the blocks there, the
    /// replay from scratch keeps the old state aside until it completes.
    @Test func aStateIsNeverDeletedWhenTheBlocksCannotRebuildIt() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let reorg = try #require(chain.summary.reorg)
        let before = root.appendingPathComponent("before-reorg")
        try chain.prefix(through: reorg.disconnected.last!, into: before)
        let state = root.appendingPathComponent("state")
        #expect(try cli(importArguments(before, state)).status == 0)
        try FileManager.default.removeItem(at: state.appendingPathComponent("checkpoints"))
        let oldExport = try exportOf(state)

        // The whole chain without its first block file (pruned).
        let pruned = root.appendingPathComponent("pruned")
        try FileManager.default.copyItem(at: chain.blocks, to: pruned)
        for name in ["blk00000.dat", "rev00000.dat"] { try FileManager.default.removeItem(at: pruned.appendingPathComponent(name)) }
        let refused = try cli(importArguments(pruned, state))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("cannot be rebuilt from these blocks, so it is kept as it is"), "\(refused.stderr)")
        #expect(try exportOf(state) == oldExport)

        let replayed = try cli(importArguments(chain.blocks, state).filter { $0 != "--quiet" })
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(replayed.stderr.contains("kept aside until the replay completes"), "\(replayed.stderr)")
        #expect(replayed.stderr.contains("removed the replaced state"), "\(replayed.stderr)")
        #expect(try exportOf(state) == chain.referenceExport)
        #expect(try !listing(state).contains { $0.contains(".replaced-") })
    }
}
