import Foundation
import Testing
import TestSupport
@testable import Checkpoints

/// A run ends with a checkpoint of its tip only where that is worth a whole image of the state:
/// after replaying at least `--checkpoint-every` blocks, or when the newest checkpoint is that
/// far behind. A run that adds a few blocks (a daily import) leaves it to the next boundary.
@Suite(.serialized) struct EndCheckpointTests {
    let chain = CheckpointChain.shared

    func newest(_ state: URL) throws -> Int? { try CheckpointStore(stateDirectory: state.path).newestHeight() }

    @Test func aFewBlocksDoNotRewriteTheState() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        func importUntil(_ height: Int) throws {
            let result = try cli(importArguments(chain.blocks, state, ["--checkpoint-every", "50", "--until", String(height)]))
            #expect(result.status == 0, "\(result.stderr)")
        }
        try importUntil(120)
        #expect(try newest(state) == 120, "a run of 120 blocks ends with a checkpoint of its tip")
        try importUntil(130)
        #expect(try newest(state) == 120, "10 more blocks: no image of the whole state for them")
        try importUntil(145)
        #expect(try newest(state) == 120)
        try importUntil(175)
        #expect(try newest(state) == 150, "the boundary at 150 was crossed: its checkpoint, not one at 175")
        try importUntil(240)
        #expect(try newest(state) == 240, "a run of 65 blocks (at least --checkpoint-every) ends with one")
    }
}
