import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Checkpoints
@testable import TestChain
@testable import Virtualchain

/// The newest rev file is the one bitcoind appends to: a record cut short at its end is "not yet
/// written", never damage. A one-off import stops before the block that needs it (exit 1, said
/// so); follow mode waits for the next poll.
@Suite(.serialized) struct NewestUndoFileTests {
    let chain = CheckpointChain.shared

    /// A copy of the chain whose newest rev file is cut in half, and that file's full bytes.
    func cutCopy(_ root: URL) throws -> (blocks: URL, revPath: URL, full: Data) {
        let blocks = root.appendingPathComponent("blocks")
        try FileManager.default.copyItem(at: chain.blocks, to: blocks)
        let newest = try BlocksDirectory(path: blocks.path, network: .regtest).blockFiles.last!
        let rev = blocks.appendingPathComponent(BlockFileFormat.undoFileName(newest))
        let full = try Data(contentsOf: rev)
        // Cut inside the last record (the file is pre-allocated: zeros follow the records).
        let directory = try BlocksDirectory(path: blocks.path, network: .regtest)
        var scanner = RecordScanner(file: try FileWindow(path: rev.path), number: newest, magic: Network.regtest.magicValue,
                                    xorKey: directory.xorKey, isNewest: true, kind: .undo)
        var last: RecordLocation?
        while let record = try scanner.next() { last = record }
        let record = try #require(last)
        try full.prefix(record.payloadOffset + record.size / 2).write(to: rev)
        return (blocks, rev, full)
    }

    @Test func aOneOffImportStopsBeforeTheBlockAndSaysWhy() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (blocks, rev, full) = try cutCopy(root)
        let state = root.appendingPathComponent("state")
        let result = try cli(importArguments(blocks, state))
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(rev.path): the undo record of block"), "\(result.stderr)")
        #expect(result.stderr.contains("is not written yet"))
        #expect(!result.stderr.contains("not an undo record"))
        let stopped = try #require(try StateStore(directory: state.path).tip()?.height)
        #expect(stopped < chain.summary.tipHeight)
        // Once bitcoind has written it, the import resumes to the uninterrupted result.
        try full.write(to: rev)
        #expect(try cli(importArguments(blocks, state)).status == 0)
        #expect(try exportOf(state) == chain.referenceExport)
    }

    @Test func followModeWaitsForTheRecord() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (blocks, rev, full) = try cutCopy(root)
        let state = root.appendingPathComponent("state")
        let process = Process()
        process.executableURL = TestPaths.executable
        process.arguments = ["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path,
                             "--follow", "--confirmations", "1", "--poll-interval", "0.2"]
        let log = root.appendingPathComponent("log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        func output() -> String { String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self) }

        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !output().contains("waiting for it") && process.isRunning { usleep(100_000) }
        #expect(output().contains("is not written yet (this is the rev file bitcoind is appending to)"), "\(output())")
        #expect(process.isRunning, "the follower exited: \(output())")
        try full.write(to: rev, options: .atomic)
        let caughtUp = Date().addingTimeInterval(30)
        while Date() < caughtUp, (try? StateStore(directory: state.path).tip()?.height) != chain.summary.tipHeight { usleep(100_000) }
        process.terminate()
        process.waitUntilExit()
        try handle.close()
        #expect(process.terminationStatus == 0, "\(output())")
        #expect(try exportOf(state) == chain.referenceExport)
    }
}
