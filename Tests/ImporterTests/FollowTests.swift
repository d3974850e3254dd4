import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import Checkpoints
@testable import TestChain
@testable import Virtualchain

@Suite(.serialized) struct FollowTests {
    let chain = CheckpointChain.shared

    /// Replaces `live` with the prefix through `hash`, file by file with atomic renames, as if
    /// bitcoind had appended those blocks.
    func grow(_ live: URL, through hash: BlockHash) throws {
        let staging = live.deletingLastPathComponent().appendingPathComponent("staging-\(UUID().uuidString)")
        try chain.prefix(through: hash, into: staging)
        for name in try FileManager.default.contentsOfDirectory(atPath: staging.path) {
            let data = try Data(contentsOf: staging.appendingPathComponent(name))
            try data.write(to: live.appendingPathComponent(name), options: .atomic)
        }
        try FileManager.default.removeItem(at: staging)
    }

    func tipHeight(_ state: URL) -> Int? {
        guard let result = try? runCLI(["status", "--state", state.path, "--json"]), result.status == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else { return nil }
        return object["height"] as? Int
    }

    func waitFor(_ state: URL, height: Int, seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if tipHeight(state) == height { return true }
            usleep(100_000)
        }
        let result = try? runCLI(["status", "--state", state.path, "--json"])
        print("status at timeout: \(result?.status ?? -1) \(result?.stdout ?? "") \(result?.stderr ?? "")")
        return false
    }

    @Test func followsAGrowingDirectoryThroughAReorganisationAndStopsCleanly() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let live = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        let reorg = try #require(chain.summary.reorg)
        try grow(live, through: chain.summary.mainChain[120])

        let process = Process()
        process.executableURL = TestPaths.executable
        process.arguments = ["import", "--blocksdir", live.path, "--network", "regtest", "--machine", "names", "--state", state.path,
                             "--follow", "--confirmations", "1", "--poll-interval", "0.2", "--checkpoint-every", "20"]
        let log = root.appendingPathComponent("log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // One confirmation: every block is processed, so the losing branch is too (and must be rolled back).
        func logText() -> String { String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self) }
        #expect(waitFor(state, height: 120), "follower did not reach 120: \(logText())")
        // The branch that later loses arrives and becomes the tip.
        try grow(live, through: reorg.disconnected.last!)
        let losingTip = reorg.forkHeight + reorg.disconnected.count
        #expect(waitFor(state, height: losingTip), "follower did not reach \(losingTip): \(logText())")
        // Everything, including the winning branch.
        try grow(live, through: chain.summary.mainChain.last!)
        #expect(waitFor(state, height: chain.summary.tipHeight), "follower did not reach \(chain.summary.tipHeight): \(logText())")
        process.terminate()  // SIGTERM: finish the block, checkpoint, exit 0
        process.waitUntilExit()
        try handle.close()
        let output = String(decoding: try Data(contentsOf: log), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("reorganisation"), "\(output)")
        let newest = try #require(try CheckpointStore(stateDirectory: state.path).verifyAll().last)
        #expect(newest.ok && newest.header?.height == chain.summary.tipHeight)
        #expect(try exportOf(state) == chain.referenceExport)
    }
}
