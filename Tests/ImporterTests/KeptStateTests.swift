import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import Checkpoints
@testable import Importer
@testable import Names
@testable import TestChain
@testable import Virtualchain

/// A follow keeps the state open between looks, and streams checkpoints from its database file
/// meanwhile; another process reading the state must see every committed block, and must not
/// take the database for unused (which it would if the checkpoint's reads had dropped SQLite's
/// locks: it would then delete the log the follower still writes to).
@Suite(.serialized) struct KeptStateTests {
    let chain = CheckpointChain.shared

    func statusHeight(_ state: URL) throws -> Int? {
        let result = try runCLI(["status", "--state", state.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return object?["height"] as? Int
    }

    @Test func anotherProcessSeesEveryLookOfAKeptState() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let live = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        var options = ImporterOptions()
        options.checkpointEvery = 10
        options.checkpointShare = nil
        let importer = try Importer(machine: NamesMachine(firstBlock: 1), stateDirectory: state.path, network: .regtest, options: options)
        let headerIndex = HeaderIndexStore(stateDirectory: state.path)
        var index: ChainIndex?
        for tipHeight in [60, 90, 155] {
            try? FileManager.default.removeItem(at: live)
            try chain.prefix(through: chain.summary.mainChain[tipHeight], into: live)
            let directory = try BlocksDirectory(path: live.path, network: .regtest)
            if index == nil {
                index = try ChainIndex(directory: directory, headerIndex: headerIndex)
            } else {
                try index!.update(directory: directory, headerIndex: headerIndex)
            }
            let report = try importer.run(directory: directory, index: index!, checkpointAtEnd: false, keepOpen: true)
            #expect(report.summary.lastHeight == tipHeight)
            // Checkpoints were streamed from the open database; another process reads it now.
            #expect(report.checkpoints.written > 0)
            #expect(try statusHeight(state) == tipHeight)
            #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent(StateStore.fileName + "-wal").path),
                    "the write-ahead log of the open state was deleted by another process")
        }
        let final = try #require(try importer.finishFollowing())
        #expect(final.written == 1)
        #expect(try CheckpointStore(stateDirectory: state.path).verifyAll().last?.header?.height == 155)
        #expect(try statusHeight(state) == 155)
    }
}
