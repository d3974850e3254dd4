import Foundation
import Testing
import TestSupport
@testable import BlockFiles
@testable import Virtualchain

/// A named pipe where a file is expected must not hang the tool (open() would wait for a writer
/// for ever, with the state's lock held): each is refused, naming what it is, within seconds.
@Suite(.serialized) struct NonRegularFileTests {
    let chain = CheckpointChain.shared

    enum Place: String, CaseIterable {
        case blockFile, undoFile, xorKey, headerIndex, stateDatabase, checkpoint
    }

    /// Runs `virtualchain` with a deadline: the result, or nil if it had to be killed.
    func run(_ arguments: [String], seconds: Double = 20) throws -> ProcessResult? {
        let process = Process()
        process.executableURL = TestPaths.executable
        process.arguments = arguments
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vc-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        try err.close()
        return ProcessResult(status: process.terminationStatus, stdout: "", stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    @Test(arguments: Place.allCases)
    func aNamedPipeIsRefusedWithinSeconds(_ place: Place) throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let blocks = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        try FileManager.default.copyItem(at: chain.blocks, to: blocks)
        #expect(try cli(importArguments(blocks, state, ["--until", "60", "--checkpoint-every", "20"])).status == 0)
        let directory = try BlocksDirectory(path: blocks.path, network: .regtest)
        let target: URL = switch place {
        case .blockFile: blocks.appendingPathComponent(BlockFileFormat.blockFileName(directory.blockFiles.last!))
        case .undoFile: blocks.appendingPathComponent(BlockFileFormat.undoFileName(directory.blockFiles.last!))
        case .xorKey: blocks.appendingPathComponent(XorKey.fileName)
        case .headerIndex: state.appendingPathComponent("header-index.bin")
        case .stateDatabase: state.appendingPathComponent(StateStore.fileName)
        case .checkpoint: state.appendingPathComponent("checkpoints/" + (try FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("checkpoints").path).sorted().last!))
        }
        try? FileManager.default.removeItem(at: target)
        for suffix in ["-wal", "-shm"] where place == .stateDatabase { try? FileManager.default.removeItem(atPath: target.path + suffix) }
        #expect(mkfifo(target.path, 0o644) == 0)
        let result = try run(importArguments(blocks, state))
        let finished = try #require(result, "import hung on a named pipe as the \(place)")
        switch place {
        case .headerIndex:
            // The index is rebuilt aside and put in place of the pipe: the import goes on.
            #expect(finished.status == 0, "\(finished.stderr)")
        case .checkpoint:
            // A checkpoint is only read when the state needs one: the live state is fine here.
            #expect(finished.status == 0, "\(finished.stderr)")
        default:
            #expect(finished.status != 0, "\(finished.stderr)")
            #expect(finished.stderr.contains("named pipe"), "\(place): \(finished.stderr)")
        }
        // The read-only commands too.
        if place == .stateDatabase || place == .checkpoint {
            for command in [["status", "--state", state.path], ["checkpoints", "verify", "--state", state.path], ["export", "--state", state.path]] {
                let read = try #require(try run(command), "\(command[0]) hung on a named pipe as the \(place)")
                if place == .stateDatabase && command[0] != "checkpoints" {
                    #expect(read.status != 0 && read.stderr.contains("named pipe"), "\(command[0]): \(read.stderr)")
                }
                if place == .checkpoint && command[0] == "checkpoints" {
                    #expect(read.status == 1, "checkpoints verify passed a named pipe: \(read.stderr)")  // "BAD ...: it is a named pipe"
                }
            }
        }
    }

    @Test func aProofThatIsNoFileIsRefusedForWhatItIs() throws {
        let devNull = try #require(try run(["verify-proof", "/dev/null", "--height", "1", "--consensus-hash", String(repeating: "0", count: 32)]))
        #expect(devNull.status == 2 && devNull.stderr.contains("character device"), "\(devNull.stderr)")
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let pipe = root.appendingPathComponent("proof")
        #expect(mkfifo(pipe.path, 0o644) == 0)
        let fifo = try #require(try run(["verify-proof", pipe.path, "--height", "1", "--consensus-hash", String(repeating: "0", count: 32)]))
        #expect(fifo.status == 2 && fifo.stderr.contains("named pipe"), "\(fifo.stderr)")
    }
}

/// Refused commands change nothing and leave nothing behind.
@Suite(.serialized) struct RefusedImportTests {
    let chain = CheckpointChain.shared

    @Test func aFailedFirstImportLeavesNoStateDirectory() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        let wrongNetwork = try cli(["import", "--blocksdir", chain.blocks.path, "--network", "signet", "--machine", "names", "--state", state.path, "--quiet"])
        #expect(wrongNetwork.status == 1, "\(wrongNetwork.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state.path), "a refused first import left \(state.path)")
        let noBlocks = try cli(["import", "--blocksdir", root.appendingPathComponent("nothing").path, "--network", "regtest", "--machine", "names",
                                "--state", state.path, "--quiet"])
        #expect(noBlocks.status == 1 && !FileManager.default.fileExists(atPath: state.path))
        // A directory the user made beforehand is left alone.
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        #expect(try cli(["import", "--blocksdir", chain.blocks.path, "--network", "signet", "--machine", "names", "--state", state.path, "--quiet"]).status == 1)
        #expect(FileManager.default.fileExists(atPath: state.path))
    }

    @Test func aDirectoryInPlaceOfTheHeaderIndexIsRefusedBeforeAnyWork() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state.appendingPathComponent("header-index.bin"), withIntermediateDirectories: true)
        let result = try cli(importArguments(chain.blocks, state))
        #expect(result.status == 1 && result.stderr.contains("header-index.bin is a directory"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state.appendingPathComponent(StateStore.fileName).path), "blocks were committed first")
    }
}

extension RefusedImportTests {
    /// An import refused for the state it finds (another machine, network, first block) leaves
    /// the state directory as it was: the header index is not rewritten first.
    @Test func aRefusedImportChangesNothing() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        #expect(try cli(importArguments(chain.blocks, state, ["--until", "100"])).status == 0)
        let index = state.appendingPathComponent("header-index.bin")
        let before = (try Data(contentsOf: index), try FileManager.default.attributesOfItem(atPath: index.path)[.modificationDate] as? Date)
        usleep(20_000)
        let refused = try cli(["import", "--blocksdir", chain.blocks.path, "--network", "regtest", "--machine", "reference", "--state", state.path, "--quiet"])
        #expect(refused.status == 1 && refused.stderr.contains("holds state of names"), "\(refused.stderr)")
        let after = (try Data(contentsOf: index), try FileManager.default.attributesOfItem(atPath: index.path)[.modificationDate] as? Date)
        #expect(after.0 == before.0 && after.1 == before.1, "the refused import rewrote the header index")
        // Nor is a missing index written by a refused import.
        try FileManager.default.removeItem(at: index)
        let again = try cli(["import", "--blocksdir", chain.blocks.path, "--network", "regtest", "--machine", "reference", "--state", state.path, "--quiet"])
        #expect(again.status == 1)
        #expect(!FileManager.default.fileExists(atPath: index.path), "the refused import wrote a header index")
    }
}

extension RefusedImportTests {
    /// Without the xor.dat its blk files were written with, no record decodes: the error says
    /// where to look, and nothing is made.
    @Test func aMissingXorKeyIsNamedAsTheLikelyCause() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let blocks = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        try FileManager.default.copyItem(at: chain.blocks, to: blocks)
        try FileManager.default.removeItem(at: blocks.appendingPathComponent("xor.dat"))
        let result = try cli(importArguments(blocks, state))
        #expect(result.status == 1 && result.stderr.contains("no record in them decodes with the key of its xor.dat"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state.path))
    }
}
