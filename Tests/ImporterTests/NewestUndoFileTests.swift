import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Checkpoints
@testable import TestChain
@testable import Virtualchain

/// The newest blk and rev files are the ones bitcoind writes to: a record cut short at their end,
/// a record not started yet (the file ending cleanly, or in the zeros bitcoind reserves, before
/// it) and a block record written only in part into those zeros are "not yet written", never
/// damage. A one-off import stops before the block that needs it (exit 1, said so); follow mode
/// waits, and once the files are complete reaches the state of an uninterrupted import.
@Suite(.serialized) struct NewestUndoFileTests {
    let chain = CheckpointChain.shared

    enum Cut: CaseIterable {
        /// The newest rev file's last record cut in half, nothing after it.
        case undoCutShort
        /// The newest rev file ends cleanly before its last record.
        case undoNotStarted
        /// The same, with the zeros bitcoind reserves where the record will go.
        case undoNotStartedInReservedZeros
        /// The newest blk file's last block record written only in part: its second half zeros.
        case blockPartlyWritten

        var message: String {
            switch self {
            // The header pass leaves it out: it is not part of the chain yet.
            case .blockPartlyWritten: "the last record is incomplete (not yet written); ignored"
            default: "is not written yet (bitcoind writes it when it connects the block)"
            }
        }
    }

    /// A copy of the chain cut as `cut` says, the file cut and its full bytes.
    func cutCopy(_ root: URL, _ cut: Cut) throws -> (blocks: URL, path: URL, full: Data) {
        let blocks = root.appendingPathComponent("blocks")
        try FileManager.default.copyItem(at: chain.blocks, to: blocks)
        let directory = try BlocksDirectory(path: blocks.path, network: .regtest)
        let newest = directory.blockFiles.last!
        let isBlock = cut == .blockPartlyWritten
        let file = blocks.appendingPathComponent(isBlock ? BlockFileFormat.blockFileName(newest) : BlockFileFormat.undoFileName(newest))
        let full = try Data(contentsOf: file)
        var scanner = RecordScanner(file: try FileWindow(path: file.path), number: newest, magic: Network.regtest.magicValue,
                                    xorKey: directory.xorKey, isNewest: true, kind: isBlock ? .block : .undo)
        var last: RecordLocation?
        while let record = try scanner.next() { last = record }
        let record = try #require(last)
        var bytes = full
        switch cut {
        case .undoCutShort:
            bytes = full.prefix(record.payloadOffset + record.size / 2)
        case .undoNotStarted:
            bytes = full.prefix(record.offset)
        case .undoNotStartedInReservedZeros:
            bytes = full.prefix(record.offset) + Data(count: full.count - record.offset)
        case .blockPartlyWritten:
            let from = record.payloadOffset + record.size / 2
            bytes.replaceSubrange(from..<(record.payloadOffset + record.size), with: Data(count: record.payloadOffset + record.size - from))
        }
        try bytes.write(to: file)
        return (blocks, file, full)
    }

    @Test(arguments: Cut.allCases)
    func aOneOffImportStopsBeforeTheBlockAndSaysWhy(_ cut: Cut) throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (blocks, path, full) = try cutCopy(root, cut)
        let state = root.appendingPathComponent("state")
        let result = try cli(importArguments(blocks, state))
        // Stopped before the block whose undo record is missing (an error saying so); a block
        // not yet written is not part of the chain yet (a note), the import ends below it.
        #expect(result.status == (cut == .blockPartlyWritten ? 0 : 1))
        #expect(result.stderr.contains("\(path.path)") && result.stderr.contains(cut.message), "\(result.stderr)")
        #expect(!result.stderr.contains("damaged") && !result.stderr.contains("not an undo record"))
        let stopped = try #require(try StateStore(directory: state.path).tip()?.height)
        #expect(stopped < chain.summary.tipHeight)
        // Once bitcoind has written it, the import resumes to the uninterrupted result.
        try full.write(to: path)
        #expect(try cli(importArguments(blocks, state)).status == 0)
        #expect(try exportOf(state) == chain.referenceExport)
    }

    @Test(arguments: Cut.allCases)
    func followModeWaitsForTheRecord(_ cut: Cut) throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (blocks, path, full) = try cutCopy(root, cut)
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
        while Date() < deadline && !output().contains(cut == .blockPartlyWritten ? cut.message : "waiting for it") && process.isRunning { usleep(100_000) }
        #expect(output().contains(cut.message), "\(output())")
        #expect(process.isRunning, "the follower exited: \(output())")
        // Written in place, as bitcoind writes (into the same file, not a new one).
        let writer = try FileHandle(forWritingTo: path)
        try writer.seek(toOffset: 0)
        try writer.write(contentsOf: full)
        try writer.close()
        let caughtUp = Date().addingTimeInterval(30)
        while Date() < caughtUp, (try? StateStore(directory: state.path).tip()?.height) != chain.summary.tipHeight { usleep(100_000) }
        process.terminate()
        process.waitUntilExit()
        try handle.close()
        #expect(process.terminationStatus == 0, "\(output())")
        #expect(try exportOf(state) == chain.referenceExport)
    }
}
