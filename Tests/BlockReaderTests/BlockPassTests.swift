import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex
@testable import TestChain

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var started = 0
    private(set) var maxAhead = 0
    private var consumed = 0

    func start() {
        lock.lock(); started += 1; maxAhead = max(maxAhead, started - consumed); lock.unlock()
    }

    func consume() {
        lock.lock(); consumed += 1; lock.unlock()
    }
}

@Suite struct BlockPassTests {
    @Test func deliversInOrderAndASlowConsumerHoldsWorkersBack() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .blocks(120)
        options.shuffleWindow = 30  // storage order differs from height order
        options.maxFileSize = 100_000
        options.blockWeight = 40_000
        let summary = try TestChainGenerator.generate(options, out: root.path)
        let directory = try BlocksDirectory(path: root.appendingPathComponent("blocks").path, network: .regtest)
        let index = try ChainIndex(directory: directory)
        let counter = Counter()
        let window = 3
        var delivered: [BlockHash] = []
        let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(threads: 2, window: window))
        try pass.run(entries: index.bestChain, transform: { block in
            counter.start()
            return block.hash
        }, consume: { _, hash in
            counter.consume()
            delivered.append(hash)
            usleep(2_000)  // a slow consumer
        })
        #expect(delivered == summary.mainChain)
        // At most `window` blocks ahead of the one the consumer is holding.
        #expect(counter.maxAhead <= window + 1, "workers ran \(counter.maxAhead) blocks ahead of a window of \(window)")
    }

    /// A generated chain of `blocks` blocks in `root`, opened and indexed.
    func chain(of blocks: Int, in root: URL) throws -> (directory: BlocksDirectory, index: ChainIndex) {
        var options = TestChainOptions()
        options.length = .blocks(blocks)
        _ = try TestChainGenerator.generate(options, out: root.path)
        let directory = try BlocksDirectory(path: root.appendingPathComponent("blocks").path, network: .regtest)
        return (directory, try ChainIndex(directory: directory))
    }

    @Test func consumerErrorStopsThePass() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (directory, index) = try chain(of: 50, in: root)
        struct Stop: Error {}
        var seen = 0
        let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(threads: 2, window: 4))
        #expect(throws: Stop.self) {
            try pass.run(entries: index.bestChain, transform: { $0.hash }, consume: { _, _ in
                seen += 1
                if seen == 10 { throw Stop() }
            })
        }
        #expect(seen == 10)
    }

    /// Results wait in slots the pass manages by hand: every result is delivered or dropped,
    /// whether the pass completes, its consumer throws, or a block fails on a worker while later
    /// results are ready.
    @Test func everyResultIsDeliveredOrReleasedWhateverStopsThePass() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (directory, index) = try chain(of: 200, in: root)
        let live = LiveCount()
        final class Tracked: @unchecked Sendable {
            let live: LiveCount
            let hash: BlockHash
            init(_ live: LiveCount, _ hash: BlockHash) { self.live = live; self.hash = hash; live.add(1) }
            deinit { live.add(-1) }
        }
        struct Stop: Error {}
        struct Bad: Error {}
        let failing = index.entries[index.bestChain[120]].hash
        for threads in [1, 2, 3] {
            let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(threads: threads, window: 16))
            var delivered: [BlockHash] = []
            try pass.run(entries: index.bestChain, transform: { Tracked(live, $0.hash) }, consume: { _, value in delivered.append(value.hash) })
            #expect(delivered.count == index.bestChain.count)
            #expect(live.value == 0)

            var seen = 0
            #expect(throws: Stop.self) {
                try pass.run(entries: index.bestChain, transform: { Tracked(live, $0.hash) }, consume: { _, _ in
                    seen += 1
                    if seen == 37 { throw Stop() }
                })
            }
            #expect(live.value == 0, "results left behind after the consumer stopped (\(threads) threads)")

            var before = 0
            #expect(throws: Bad.self) {
                try pass.run(entries: index.bestChain, transform: { block -> Tracked in
                    if block.hash == failing { throw Bad() }
                    return Tracked(live, block.hash)
                }, consume: { _, _ in before += 1 })
            }
            #expect(before == 120, "every block before the failing one is delivered")
            #expect(live.value == 0, "results left behind after a block failed (\(threads) threads)")
        }
    }
}

final class LiveCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.lock(); count += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// The read-ahead thread stays within its bound of the consumer, and goes on as it consumes.
@Suite struct ReadAheadTests {
    @Test func readAheadStaysWithinItsBound() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .blocks(300)
        options.blockWeight = 40_000
        options.seed = "read-ahead"
        _ = try TestChainGenerator.generate(options, out: root.path)
        let directory = try BlocksDirectory(path: root.appendingPathComponent("blocks").path, network: .regtest)
        let index = try ChainIndex(directory: directory)
        let locations = index.bestChain.map { index.entries[$0].location }
        var prefix = [0]
        for location in locations { prefix.append(prefix.last! + location.size) }
        let bound = 100_000
        let readAhead = ReadAhead(directory: directory, locations: locations, prefixBytes: prefix, undoWanted: { true }, maxBytesAhead: bound)
        readAhead.start()
        defer { readAhead.stop() }
        func settle() { Thread.sleep(forTimeInterval: 0.2) }
        settle()
        let first = readAhead.requested
        #expect(first > 0 && first < locations.count)
        #expect(prefix[first - 1] <= bound, "requested \(prefix[first - 1]) bytes ahead of nothing consumed")
        readAhead.consumed(upTo: first)
        settle()
        #expect(readAhead.requested > first)
        #expect(prefix[readAhead.requested - 1] - prefix[first] <= bound)
        readAhead.consumed(upTo: locations.count)
        settle()
        #expect(readAhead.requested == locations.count)
    }
}
