import Foundation
import Testing
import TestSupport

/// `virtualchain testchain` refuses impossible requests with exit status 2 and writes nothing.
@Suite struct TestchainCommandLineTests {
    @Test(arguments: [
        (["--blocks", "10", "--size", "1MiB"], "cannot be used together"),
        (["--size", "100"], "below one block"),
        (["--size", "lots"], "not a size"),
        (["--blocks", "0"], "at least 1"),
        (["--blocks", "2", "--reorg"], "at least 3 blocks"),
        (["--network", "moon"], "unknown --network"),
        (["--max-file-size", "64KiB"], "--max-file-size"),
        (["--op-mix", "rate=7"], "fraction"),
        (["--shuffle-window", "-1"], "--shuffle-window"),
    ])
    func badFlagsExitWithStatus2AndWriteNothing(arguments: [String], message: String) throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out")
        let result = try runCLI(["testchain", "--out", out.path] + arguments)
        #expect(result.status == 2, "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "\(arguments) wrote \(out.path)")
    }

    @Test func existingNonEmptyOutputIsRefused() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let keep = root.appendingPathComponent("keep.txt")
        try Data("precious".utf8).write(to: keep)
        let result = try runCLI(["testchain", "--out", root.path, "--blocks", "5"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("not empty"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["keep.txt"])
        #expect(try Data(contentsOf: keep) == Data("precious".utf8))
    }

    @Test func generatesAndReportsTip() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("chain")
        let result = try runCLI(["testchain", "--out", out.path, "--blocks", "20", "--seed", "cli", "--network", "signet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("at height 20"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("testchain.json"))) as! [String: Any]
        #expect(manifest["network"] as? String == "signet")
        #expect(manifest["genesis"] as? String == "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6")
    }
}
