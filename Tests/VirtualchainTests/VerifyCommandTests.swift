import Foundation
import Testing
import TestSupport
@testable import Virtualchain

/// `verify` checks what it says: an edited record, stored hash or machine row is found and named;
/// bad input is told apart from a difference by its exit status.
@Suite struct VerifyCommandTests {
    static let testdata = TestPaths.packageRoot.appendingPathComponent("testdata").path

    /// A fresh names state of the bundled chain, and its tip's height and consensus hash.
    func importedState(_ root: URL) throws -> (path: String, height: Int, hash: String) {
        let state = root.appendingPathComponent("state").path
        let result = try runCLI(["import", "--datadir", Self.testdata, "--network", "regtest", "--machine", "names", "--state", state, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let tip = try #require(try StateStore.openForReading(directory: state).tip())
        return (state, tip.height, tip.consensusHash.hex)
    }

    func edit(_ state: String, _ sql: String) throws {
        let database = try SQLiteDatabase(path: state + "/" + StateStore.fileName)
        try database.execute(sql)
        database.close()
    }

    func verify(_ state: String, _ extra: [String] = []) throws -> ProcessResult {
        try runCLI(["verify", "--state", state] + extra)
    }

    @Test func anUneditedStateVerifiesAgainstItsTrustedHashAndAReplay() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (state, height, hash) = try importedState(root)
        let plain = try verify(state, ["--height", "\(height)", "--consensus-hash", hash])
        #expect(plain.status == 0, "\(plain.stdout)\(plain.stderr)")
        #expect(plain.stdout.contains("verified:") && plain.stdout.contains("equals the trusted \(hash)"))
        #expect(plain.stdout.contains("machine tables are not covered"))
        let replayed = try verify(state, ["--replay", "--datadir", Self.testdata, "--network", "regtest"])
        #expect(replayed.status == 0, "\(replayed.stdout)\(replayed.stderr)")
        #expect(replayed.stdout.contains("every table equals a replay"))
        // A wrong trusted hash at a height the state holds: a difference, exit 1.
        let wrong = try verify(state, ["--height", "150", "--consensus-hash", hash])
        #expect(wrong.status == 1 && wrong.stdout.contains("differs at height 150"), "\(wrong.stdout)")
        #expect(!wrong.stdout.contains("verified"))
    }

    @Test func anEditedRecordIsFoundAtItsHeight() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (state, height, hash) = try importedState(root)
        try edit(state, "UPDATE vc_records SET serialized = CAST(replace(CAST(serialized AS TEXT), '3:104', '3:105') AS BLOB) WHERE height = 104")
        let result = try verify(state, ["--height", "\(height)", "--consensus-hash", hash])
        #expect(result.status == 1)
        #expect(result.stdout.contains("differs at height 104") && result.stdout.contains("not the hash of the block's"), "\(result.stdout)")
        #expect(!result.stdout.contains("verified"))
    }

    @Test func anEditedStoredHashIsFoundAtItsHeight() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (state, height, hash) = try importedState(root)
        try edit(state, "UPDATE vc_blocks SET consensus_hash = zeroblob(16) WHERE height = 200")
        let result = try verify(state, ["--height", "\(height)", "--consensus-hash", hash])
        #expect(result.status == 1)
        #expect(result.stdout.contains("differs at height 200") && result.stdout.contains("stored consensus hash 00000000000000000000000000000000"), "\(result.stdout)")
        // Rewriting the ops hash and every consensus hash after it to agree is found by the
        // trusted hash, which no edit of the state can reach.
        try edit(state, "UPDATE vc_blocks SET consensus_hash = (SELECT consensus_hash FROM vc_blocks WHERE height = 199) WHERE height = 200")
        #expect(try verify(state).status == 1)
    }

    @Test func anEditedMachineRowIsFoundOnlyByAReplay() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (state, height, hash) = try importedState(root)
        try edit(state, "UPDATE names SET expires_at = expires_at + 1 WHERE name = 'ichcquezepcx03s.id'")
        // The hashes cover records, not machine tables: the plain check passes and says so.
        let plain = try verify(state, ["--height", "\(height)", "--consensus-hash", hash])
        #expect(plain.status == 0 && plain.stdout.contains("machine tables are not covered"), "\(plain.stdout)")
        let replayed = try verify(state, ["--replay", "--datadir", Self.testdata, "--network", "regtest"])
        #expect(replayed.status == 1, "\(replayed.stdout)\(replayed.stderr)")
        #expect(replayed.stdout.contains("table names: row (name='ichcquezepcx03s.id'") && replayed.stdout.contains("in the state but not in the replay"),
                "\(replayed.stdout)")
        #expect(!replayed.stdout.contains("verified"))
        // So is an edited count.
        try edit(state, "UPDATE names SET expires_at = expires_at - 1 WHERE name = 'ichcquezepcx03s.id'; UPDATE vc_counts SET count = count + 1 WHERE kind = 'accepted:+'")
        let counts = try verify(state, ["--replay", "--datadir", Self.testdata, "--network", "regtest"])
        #expect(counts.status == 1 && counts.stdout.contains("table vc_counts"), "\(counts.stdout)")
    }

    @Test func badInputExitsTwoNotOne() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (state, _, hash) = try importedState(root)
        let garbage = try verify(state, ["--height", "100", "--consensus-hash", "garbage"])
        #expect(garbage.status == 2 && garbage.stderr.contains("not a consensus hash"), "\(garbage.stderr)")
        let noState = try verify(root.appendingPathComponent("nothing").path, ["--height", "100", "--consensus-hash", hash])
        #expect(noState.status == 2 && noState.stderr.contains("no state"), "\(noState.stderr)")
        let noHeight = try verify(state, ["--height", "99999", "--consensus-hash", hash])
        #expect(noHeight.status == 2 && noHeight.stderr.contains("no consensus hash at height 99999"), "\(noHeight.stderr)")
        let wrongNetwork = try verify(state, ["--replay", "--datadir", Self.testdata, "--network", "signet"])
        #expect(wrongNetwork.status == 2 && wrongNetwork.stderr.contains("regtest state"), "\(wrongNetwork.stderr)")
        let halfTrusted = try verify(state, ["--height", "100"])
        #expect(halfTrusted.status == 2)
    }

    /// status, export, verify, prove and checkpoints read a state without changing a byte of it:
    /// every file's bytes and modification time are the same after each, and no file is added.
    @Test func readingCommandsChangeNothing() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (state, height, hash) = try importedState(root)
        let txid = try #require(try StateStore.openForReading(directory: state).records(atHeight: 104).first?.txid?.displayHex)
        func snapshot() throws -> [String: (Data, Date)] {
            var files: [String: (Data, Date)] = [:]
            for case let url as URL in FileManager.default.enumerator(at: URL(fileURLWithPath: state), includingPropertiesForKeys: [.contentModificationDateKey])! {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                files[url.path] = (try Data(contentsOf: url), try url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate!)
            }
            return files
        }
        let before = try snapshot()
        for command in [["status", "--state", state], ["status", "--state", state, "--json"], ["export", "--state", state],
                        ["verify", "--state", state, "--height", "\(height)", "--consensus-hash", hash],
                        ["prove", "--state", state, "--txid", txid], ["checkpoints", "list", "--state", state], ["checkpoints", "verify", "--state", state]] {
            let result = try runCLI(command)
            #expect(result.status == 0, "\(command[0]): \(result.stderr)")
            let after = try snapshot()
            #expect(Set(after.keys) == Set(before.keys), "\(command.joined(separator: " ")) left \(Set(after.keys).subtracting(before.keys))")
            for (path, (bytes, modified)) in before {
                #expect(after[path]?.0 == bytes && after[path]?.1 == modified, "\(command.joined(separator: " ")) changed \(path)")
            }
        }
    }
}
