import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import Checkpoints
@testable import Importer
import Names
@testable import TestChain
@testable import Virtualchain

@Suite(.serialized) struct ImportRecoveryTests {
    let chain = CheckpointChain.shared

    /// A state with checkpoints at 100, 200, 300 (and no live database, so starting means restoring).
    func stateWithCheckpoints() throws -> URL {
        let state = try TestPaths.temporaryDirectory("state")
        let result = try cli(importArguments(chain.blocks, state, ["--checkpoint-every", "100"]))
        #expect(result.status == 0, "\(result.stderr)")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: state.path + "/state.sqlite" + suffix) }
        return state
    }

    func rewriteNewest(_ state: URL, _ change: (inout CheckpointHeader) -> Void) throws -> String {
        let store = CheckpointStore(stateDirectory: state.path)
        let path = try store.paths().last!
        let (entry, payload) = store.inspect(path, payload: true)
        var header = entry.header!
        change(&header)
        let file = try payload!.withUnsafeBytes { try CheckpointFile.encode(header: header, payload: $0) }
        try Data(file).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: ["truncated", "header", "frame", "payload", "machine", "network", "format"])
    func damagedNewestCheckpointFallsBackToTheNextOlder(kind: String) throws {
        let state = try stateWithCheckpoints()
        defer { try? FileManager.default.removeItem(at: state) }
        let store = CheckpointStore(stateDirectory: state.path)
        let newest = try store.paths().last!
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))
        let expected: String
        switch kind {
        case "truncated": bytes.removeLast(bytes.count / 3); expected = "truncated"
        case "header": bytes[30] ^= 0x01; expected = "header checksum mismatch"
        case "frame": bytes[try bytes.withUnsafeBytes { try CheckpointFile.readHeader($0).frameEnd } + 4] ^= 0x40; expected = "LZ4 frame damaged"
        case "payload": bytes[bytes.count - 5000] ^= 0x10; expected = "LZ4"
        case "machine": _ = try rewriteNewest(state) { $0.machine = "reference" }; expected = "made by reference"
        case "network": _ = try rewriteNewest(state) { $0.network = "mainnet" }; expected = "made on mainnet"
        default: _ = try rewriteNewest(state) { $0.format = 7 }; expected = "format version 7 is newer"
        }
        if ["truncated", "header", "frame", "payload"].contains(kind) { try Data(bytes).write(to: URL(fileURLWithPath: newest)) }
        let damagedBytes = try Data(contentsOf: URL(fileURLWithPath: newest))
        let report = try importInProcess(chain.blocks, state)
        #expect(report.restoredFrom?.height == 200)
        let skipped = report.notes.first { $0.hasPrefix("checkpoint \(newest) skipped") }
        #expect(skipped?.contains(expected) == true, "\(kind): \(report.notes)")
        #expect(report.notes.contains { $0.hasPrefix("restored the checkpoint at height 200") }, "\(report.notes)")
        #expect(try exportOf(state) == chain.referenceExport)
        // Nothing that could still be needed is deleted: the damaged file is left for inspection.
        #expect(try Data(contentsOf: URL(fileURLWithPath: newest)) == damagedBytes)
        if ["truncated", "header", "frame", "payload", "format"].contains(kind) {
            let verify = try runCLI(["checkpoints", "verify", "--state", state.path, "--json"])
            #expect(verify.status == 1)
            #expect(verify.stdout.contains("\"ok\":false"))
        }
    }

    @Test func noUsableCheckpointMeansReplayFromScratchSaidClearly() throws {
        let state = try stateWithCheckpoints()
        defer { try? FileManager.default.removeItem(at: state) }
        for path in try CheckpointStore(stateDirectory: state.path).paths() {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[20] ^= 0xff
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        let report = try importInProcess(chain.blocks, state)
        #expect(report.restoredFrom == nil)
        #expect(report.notes.contains("no usable checkpoint: replaying from scratch"), "\(report.notes)")
        #expect(report.summary.firstHeight == 1)
        #expect(try exportOf(state) == chain.referenceExport)
    }

    @Test func damagedStateDatabaseIsMovedAsideAndRestored() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        #expect(try cli(importArguments(chain.blocks, state, ["--checkpoint-every", "100"])).status == 0)
        let database = state.appendingPathComponent("state.sqlite")
        var bytes = [UInt8](try Data(contentsOf: database))
        for i in stride(from: 4096, to: min(bytes.count, 40_000), by: 7) { bytes[i] ^= 0x5a }
        try Data(bytes).write(to: database)
        let report = try importInProcess(chain.blocks, state)
        #expect(report.notes.contains { $0.hasPrefix("the state database is damaged") }, "\(report.notes)")
        #expect(report.restoredFrom != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: state.path).contains { $0.hasPrefix("state.sqlite.damaged-") })
        #expect(try exportOf(state) == chain.referenceExport)
    }

    @Test func aSecondWriterIsRefused() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        let lock = try StateLock(directory: state.path)
        let result = try cli(importArguments(chain.blocks, state))
        #expect(result.status == 1)
        #expect(result.stderr.contains("is in use by another virtualchain process (pid \(getpid()))"), "\(result.stderr)")
        _ = lock
    }

    /// A restore killed before it completed leaves an image as large as the state beside it
    /// (being decoded, or decoded and not yet checked): the next start deletes both, whether it
    /// restores again or, as here, uses the live state.
    @Test func anInterruptedRestoreLeavesNothingBehind() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        #expect(try cli(importArguments(chain.blocks, state, ["--checkpoint-every", "100", "--until", "200"])).status == 0)
        let check = state.appendingPathComponent(StateStore.fileName + ".restore.check").path
        // The image and its temporary file, and the log and shared memory SQLite kept beside the
        // image while it was checked.
        let leftovers = [check, AtomicFile.temporaryPath(for: check)].flatMap { [$0, $0 + "-wal", $0 + "-shm"] }
        for leftover in leftovers {
            try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: leftover))
        }
        #expect(try cli(importArguments(chain.blocks, state)).status == 0)
        for leftover in leftovers { #expect(!FileManager.default.fileExists(atPath: leftover), "\(leftover) left behind") }
        #expect(try exportOf(state) == chain.referenceExport)
    }

    @Test func fullDiskDuringACheckpointKeepsEarlierCheckpointsAndTheState() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        #expect(try cli(importArguments(chain.blocks, state, ["--checkpoint-every", "100", "--until", "200"])).status == 0)
        let before = try CheckpointStore(stateDirectory: state.path).verifyAll()
        #expect(before.map { $0.header!.height } == [100, 200])
        // The disk fills 2,000 bytes into the next checkpoint write.
        var options = ImporterOptions()
        options.checkpointEvery = 100
        options.checkpointShare = nil
        options.checkpointFaults = WriteFaults(failAfterBytes: 2000)
        do {  // the importer holds the directory's lock until it is gone
            let importer = try Importer(machine: NamesMachine(firstBlock: 1), stateDirectory: state.path, network: .regtest, options: options)
            let failure = #expect(throws: ImporterError.self) {
                try importer.follow(ChainSource { try BlocksDirectory(path: chain.blocks.path, network: .regtest) }, follow: false,
                                    pollInterval: 1, stop: StopSignal(), reported: { _, _ in })
            }
            let message = failure.map { "\($0)" } ?? ""
            #expect(message.contains("No space left on device"), "\(message)")
            #expect(message.contains("earlier checkpoints and the state are intact"), "\(message)")
        }
        let after = try CheckpointStore(stateDirectory: state.path).verifyAll()
        #expect(after.map { $0.header!.height } == [100, 200] && after.allSatisfy(\.ok))
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: state.path + "/checkpoints")).contains { $0.hasSuffix(".tmp") })
        #expect(try cli(importArguments(chain.blocks, state)).status == 0)
        #expect(try exportOf(state) == chain.referenceExport)
    }

    /// Kills the importer with SIGKILL at random moments (and inside checkpoint writes) and runs it
    /// again each time; the final export must equal an uninterrupted import's.
    @Test func killedAtRandomMomentsTheResultIsStillIdentical() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        var random = SeededRandom(seed: "kills")
        var kills = 0, midCheckpointKills = 0, replayKills = 0
        let rounds = 24
        for round in 0..<rounds {
            let tipBefore = (try? tableRows(state, "SELECT max(height) FROM vc_blocks").first).flatMap { Int($0) } ?? 0
            let target = 12 * (round + 1)
            let process = Process()
            let midWrite = round % 4 == 3
            if midWrite {
                // The same import, its checkpoint writes pausing half-way (a test program: the
                // product has no such hook).
                process.executableURL = TestPaths.builtProgram("ImportFaultHarness")
                process.arguments = [chain.blocks.path, state.path, "5", String(target), "400"]
            } else {
                process.executableURL = TestPaths.executable
                process.arguments = importArguments(chain.blocks, state, ["--checkpoint-every", "5", "--until", String(target)])
            }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            var halfWritten = false
            if midWrite {
                // Wait for a half-written checkpoint, then kill.
                let deadline = Date().addingTimeInterval(5)
                while process.isRunning && Date() < deadline {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: state.path + "/checkpoints")) ?? []
                    if names.contains(where: { $0.hasSuffix(".tmp") }) { halfWritten = true; break }
                    usleep(2_000)
                }
            } else {
                usleep(UInt32(random.int(5_000...120_000)))
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
                if midWrite && halfWritten { midCheckpointKills += 1 }
            }
            process.waitUntilExit()
            // A kill that landed in the replay: blocks were committed, the target not reached.
            let tipAfter = (try? tableRows(state, "SELECT max(height) FROM vc_blocks").first).flatMap { Int($0) } ?? 0
            if process.terminationReason == .uncaughtSignal && tipAfter > tipBefore && tipAfter < target { replayKills += 1 }
        }
        let final = try cli(importArguments(chain.blocks, state, ["--checkpoint-every", "25"]))
        #expect(final.status == 0, "\(final.stderr)")
        #expect(kills >= rounds / 3, "only \(kills) of \(rounds) kills landed")
        #expect(midCheckpointKills >= 1)
        #expect(replayKills >= 1, "no kill landed inside the replay")
        print("kill harness: \(rounds + 1) runs, \(kills) SIGKILLs (\(replayKills) inside the replay, \(midCheckpointKills) inside checkpoint writes)")
        let verify = try runCLI(["checkpoints", "verify", "--state", state.path])
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(try exportOf(state) == chain.referenceExport)
        // Every table, the machine's and the engine's counts included, equals an uninterrupted run's.
        #expect(try stateTables(state) == stateTables(chain.referenceState))
    }

    @Test func reorganisationRollsBackToACheckpointAndReplaysTheNewBranch() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let reorg = try #require(chain.summary.reorg)
        let before = root.appendingPathComponent("before-reorg")
        try chain.prefix(through: reorg.disconnected.last!, into: before)
        let oldTip = reorg.forkHeight + reorg.disconnected.count
        let beforeIndex = try ChainIndex(directory: BlocksDirectory(path: before.path, network: .regtest))
        #expect(beforeIndex.tip!.hash == reorg.disconnected.last!)
        let state = root.appendingPathComponent("state")
        #expect(try cli(importArguments(before, state, ["--checkpoint-every", "10"])).status == 0)
        #expect(try StateStore(directory: state.path).tip()?.height == oldTip)
        // The losing branch carried registrations, updates and transfers, and they were applied.
        let branchOps = try tableRows(state, "SELECT opcode, serialized FROM vc_records WHERE height > \(reorg.forkHeight)")
        let branchOpcodes = Set(branchOps.map { $0.components(separatedBy: "|")[0] })
        #expect(branchOpcodes.isSuperset(of: [":", "+", ">"]), "losing branch operations: \(branchOps)")
        let branchHistory = try tableRows(state, "SELECT name, height, op, owner, value_hash FROM name_history WHERE height > \(reorg.forkHeight)")
        #expect(branchHistory.count == branchOps.count)
        let namesBefore = Set(try tableRows(state, "SELECT * FROM names"))

        let result = try cli(importArguments(chain.blocks, state, ["--checkpoint-every", "10"]).filter { $0 != "--quiet" })
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("reorganisation: our tip \(oldTip) left the best chain, fork point \(reorg.forkHeight) (depth \(reorg.disconnected.count))"), "\(result.stderr)")
        #expect(try exportOf(state) == chain.referenceExport)
        // Rolled back: none of the branch's history remains, and every table equals an
        // uninterrupted import's (the branch's names rows, where they changed a name, are gone).
        let history = Set(try tableRows(state, "SELECT name, height, op, owner, value_hash FROM name_history"))
        #expect(history.isDisjoint(with: branchHistory))
        #expect(try stateTables(state) == stateTables(chain.referenceState))
        let changedByBranch = namesBefore.subtracting(try tableRows(state, "SELECT * FROM names"))
        #expect(!changedByBranch.isEmpty)
    }

    @Test func blocksMissingAtOurTipAreNotAReorganisation() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        #expect(try cli(importArguments(chain.blocks, state)).status == 0)
        let damaged = root.appendingPathComponent("damaged")
        try chain.prefix(through: chain.summary.mainChain[297], into: damaged)
        let tipBefore = try StateStore(directory: state.path).tip()
        let result = try cli(importArguments(damaged, state))
        #expect(result.status == 1)
        #expect(result.stderr.contains("not a reorganisation; the state is kept unchanged"), "\(result.stderr)")
        #expect(try StateStore(directory: state.path).tip()?.height == tipBefore?.height)
        #expect(try exportOf(state) == chain.referenceExport)
    }
}
