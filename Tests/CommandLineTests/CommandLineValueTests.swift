import Foundation
import Testing
import TestSupport

/// Bad command-line values: a clear message and exit status 2, nothing written.
@Suite struct CommandLineValueTests {
    @Test(arguments: [
        (["blocks", "--threads", "0"], "--threads must be at least 1"),
        (["blocks", "--datadir", "/a", "--blocksdir", "/b"], "not both"),
        (["blocks", "--network", "moon"], "unknown --network"),
        (["ops", "--magic", "", "--blocksdir", "/nonexistent"], "--magic"),
        (["bench", "--repeat", "0", "--blocksdir", "/nonexistent"], "--repeat must be at least 1"),
        (["import", "--machine", "nope", "--state", "/tmp/x"], "nope"),
        (["import", "--machine", "names", "--state", "STATE", "--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
        (["import", "--machine", "names", "--state", "STATE", "--follow", "--confirmations", "0"], "--confirmations must be at least 1"),
        (["verify", "--state", "STATE", "--height", "x", "--consensus-hash", "00"], "height"),
        (["prove", "--state", "STATE", "--txid", "zz"], "is not a transaction id"),
        (["prove", "--state", "STATE", "--txid", String(repeating: "ab", count: 31)], "is not a transaction id"),
        (["import", "--machine", "names", "--state", "STATE", "--expect", "12:abcd"], "--expect '12:abcd' is not HEIGHT:CONSENSUS_HASH"),
    ])
    func badValuesExitWithStatus2(arguments: [String], message: String) throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state").path
        let result = try runCLI(arguments.map { $0 == "STATE" ? state : $0 })
        #expect(result.status == 2, "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state), "\(arguments) created the state directory")
    }
}

/// A failure a command does not report itself (here a state file that is no database) comes in
/// the form of every other error, "virtualchain COMMAND: error: ...", with exit status 1, and
/// the file is left as it was.
@Suite struct UnreportedFailureTests {
    @Test func aStateThatIsNoDatabaseIsAnErrorInTheUsualForm() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        let garbage = Data((0..<9000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) })
        let file = state.appendingPathComponent("state.sqlite")
        try garbage.write(to: file)
        for command in ["status", "export"] {
            let result = try runCLI([command, "--state", state.path])
            #expect(result.status == 1, "\(command): \(result.stderr)")
            #expect(result.stderr.hasPrefix("virtualchain \(command): error: \(file.path): SQLite error 26: file is not a database"), "\(command): \(result.stderr)")
        }
        #expect(try Data(contentsOf: file) == garbage)
    }
}
