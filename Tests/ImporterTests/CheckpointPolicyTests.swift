import Foundation
import Testing
import TestSupport
@testable import Checkpoints
@testable import Importer
@testable import Virtualchain

/// Checkpoints whose total cost does not grow with the chain: one is deferred while the previous
/// one's cost exceeds the allowed share of the time since it; the tip always gets one.
@Suite struct CheckpointPolicyTests {
    let chain = CheckpointChain.shared

    func written(_ output: String) -> Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("checkpoints: ") }) else { return nil }
        return Int(line.dropFirst("checkpoints: ".count).prefix { $0.isNumber })
    }

    @Test func checkpointsAreDeferredByTheirCost() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let base = ["import", "--blocksdir", chain.blocks.path, "--network", "regtest", "--machine", "names", "--checkpoint-every", "1"]
        let exact = try runCLI(base + ["--state", root.appendingPathComponent("exact").path, "--checkpoint-share", "0"])
        #expect(exact.status == 0, "\(exact.stderr)")
        #expect(written(exact.stdout) == chain.summary.tipHeight)  // one per block (retention prunes the files)

        let thrifty = root.appendingPathComponent("thrifty")
        let deferred = try runCLI(base + ["--state", thrifty.path, "--checkpoint-share", "0.0001"])
        #expect(deferred.status == 0, "\(deferred.stderr)")
        let count = try #require(written(deferred.stdout))
        #expect(count >= 1 && count < chain.summary.tipHeight / 10, "\(count) checkpoints")
        let newest = try #require(try CheckpointStore(stateDirectory: thrifty.path).verifyAll().last)
        #expect(newest.ok && newest.header?.height == chain.summary.tipHeight)
        #expect(try exportOf(thrifty) == chain.referenceExport)
    }

    /// The rule itself: the next checkpoint's cost is expected to be the last one's scaled by the
    /// state's growth since, and is due once that is within the share of the time elapsed. A
    /// state that doubled between two cheap early checkpoints must wait twice as long as the last
    /// one's cost alone would say (unscaled, the total reached twice the share).
    @Test func aCheckpointIsDueByItsExpectedCost() {
        // The last one: 0.1 s for 10 MB. At 5 %, with the state unchanged, due after 2 s.
        #expect(!CheckpointWriter.isDue(share: 0.05, elapsed: 1.9, lastCost: 0.1, lastPayloadBytes: 10_000_000, stateBytes: 10_000_000))
        #expect(CheckpointWriter.isDue(share: 0.05, elapsed: 2.0, lastCost: 0.1, lastPayloadBytes: 10_000_000, stateBytes: 10_000_000))
        // Twice the state: twice the expected cost, so after 4 s.
        #expect(!CheckpointWriter.isDue(share: 0.05, elapsed: 3.9, lastCost: 0.1, lastPayloadBytes: 10_000_000, stateBytes: 20_000_000))
        #expect(CheckpointWriter.isDue(share: 0.05, elapsed: 4.0, lastCost: 0.1, lastPayloadBytes: 10_000_000, stateBytes: 20_000_000))
        // A state that shrank is not expected to be cheaper than the last one.
        #expect(!CheckpointWriter.isDue(share: 0.05, elapsed: 1.9, lastCost: 0.1, lastPayloadBytes: 10_000_000, stateBytes: 1_000))
    }

    /// Before a run's first checkpoint the cost is assumed from the state's size: a run resuming
    /// a large state does not write a whole image of it at its first boundary, while a small
    /// (new) state's first checkpoint stays due at once.
    @Test func aRunsFirstCheckpointIsDueByTheStatesSize() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        func writer() throws -> CheckpointWriter {
            CheckpointWriter(store: CheckpointStore(stateDirectory: root.path), retention: CheckpointStore.Retention())
        }
        let unseeded = try writer()
        #expect(unseeded.isDue(share: 0.05, stateBytes: 1 << 30))
        let large = try writer()
        large.assumeCost(stateBytes: 1 << 30)  // about 5 s to write: due after about 100 s at 5 %
        #expect(!large.isDue(share: 0.05, stateBytes: 1 << 30))
        #expect(large.isDue(share: nil, stateBytes: 1 << 30))  // no share: never deferred
        let small = try writer()
        small.assumeCost(stateBytes: 8_192)
        Thread.sleep(forTimeInterval: 0.01)  // 41 µs of assumed cost: due within a millisecond at 5 %
        #expect(small.isDue(share: 0.05, stateBytes: 8_192))
    }
}
