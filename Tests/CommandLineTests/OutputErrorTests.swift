import Foundation
import Testing
import TestSupport

/// Results that cannot be written are a failure: every command that writes results, pointed at a
/// full device, exits non-zero and says why.
@Suite struct OutputErrorTests {
    @Test func everyResultWritingCommandFailsOnAFullDevice() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let testdata = TestPaths.packageRoot.appendingPathComponent("testdata").path
        let state = root.appendingPathComponent("state").path
        let imported = try runCLI(["import", "--datadir", testdata, "--network", "regtest", "--machine", "names", "--state", state, "--quiet"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(try runCLI(["status", "--state", state, "--json"]).stdout.utf8)) as? [String: Any])
        let tip = try #require(status["consensus_hash"] as? String), height = try #require(status["height"] as? Int)
        let commands: [[String]] = [
            ["export", "--state", state],
            ["status", "--state", state], ["status", "--state", state, "--json"],
            ["blocks", "--datadir", testdata, "--network", "regtest", "--json"], ["blocks", "--datadir", testdata, "--network", "regtest"],
            ["ops", "--datadir", testdata, "--network", "regtest", "--magic", "id"],
            ["checkpoints", "list", "--state", state], ["checkpoints", "verify", "--state", state, "--json"],
            ["verify", "--state", state, "--height", String(height), "--consensus-hash", tip],
            ["import", "--datadir", testdata, "--network", "regtest", "--machine", "names", "--state", state],
        ]
        for arguments in commands {
            let line = ([TestPaths.executable.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
            let result = try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec \(line) > /dev/full"])
            #expect(result.status == 1, "\(arguments): exit \(result.status)")
            #expect(result.stderr.contains("cannot write the results to standard output: No space left on device"), "\(arguments): \(result.stderr)")
        }
    }
}
