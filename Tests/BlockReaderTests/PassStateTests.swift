import Foundation
import Testing
@testable import BlockReader

/// The block pass's bookkeeping alone, on one thread where it can be (what is handed out, what
/// is ready, what the byte budget allows), and with workers delivering out of order.
@Suite struct PassStateTests {
    struct Failure: Error, Equatable { var position: Int }

    /// A value the test's threads share, behind a lock.
    final class Shared<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Value
        init(_ value: Value) { self.value = value }
        func update(_ change: (inout Value) -> Void) { lock.lock(); change(&value); lock.unlock() }
        var current: Value { lock.lock(); defer { lock.unlock() }; return value }
    }

    @Test func batchesStayWithinTheWindowAndRunsComeInOrder() {
        let state = PassState(count: 10, window: 8) { start, limit in min(limit, start + 3) }
        // A batch is at most a quarter of the window (2 positions here), and a claim waits once
        // window - maxBatch (6) positions are outstanding: three claims, no more.
        #expect(state.maxBatch == 2)
        #expect([state.claim(), state.claim(), state.claim()] == [0..<2, 2..<4, 4..<6])
        // Delivered out of order: the consumer's run stops at the first position not ready.
        state.deliver(2..<4, failures: [])
        state.deliver(0..<2, failures: [])
        let run = state.takeReady(from: 0)
        #expect(run.ready == 4 && run.failure == nil)
        state.deliver(4..<6, failures: [])
        #expect(state.takeReady(from: 4).ready == 2)
        // The consumer at 6 freed the window: claims go on from there.
        #expect(state.claim() == 6..<8)
    }

    @Test func aRunStopsAtAFailureAndHandsItOver() {
        let state = PassState(count: 6, window: 8)
        var claimed: [Range<Int>] = []
        while claimed.count < 6, let batch = state.claim() { claimed.append(batch) }
        #expect(claimed == (0..<6).map { $0..<($0 + 1) })
        for position in 0..<6 where position != 3 { state.deliver(position..<(position + 1), failures: []) }
        state.deliver(3..<4, failures: [(3, Failure(position: 3))])
        let (ready, failure) = state.takeReady(from: 0)
        #expect(ready == 3)
        #expect(failure as? Failure == Failure(position: 3))
    }

    /// Five blocks of 40 bytes, at most 100 bytes ahead of the consumer: two are handed out, the
    /// next claim waits until the consumer has taken them, then two more go.
    @Test func theByteBudgetBoundsWhatIsHandedOut() {
        let prefix = [0, 40, 80, 120, 160, 200]
        let state = PassState(count: 5, window: 64, prefixBytes: prefix, maxBytesAhead: 100) { _, limit in limit }
        #expect(state.claim() == 0..<2)
        state.deliver(0..<2, failures: [])
        let second = Shared<Range<Int>?>(nil)
        let claimed = DispatchSemaphore(value: 0)
        Thread {
            let batch = state.claim()
            second.update { $0 = batch }
            if let batch { state.deliver(batch, failures: []) }
            claimed.signal()
        }.start()
        // Not before the consumer takes the first two (120 bytes would be ahead).
        #expect(claimed.wait(timeout: .now() + .milliseconds(100)) == .timedOut)
        #expect(state.takeReady(from: 0).ready == 2)
        #expect(state.takeReady(from: 2).ready == 2)  // frees the first two's bytes, waits for 2
        claimed.wait()
        #expect(second.current == 2..<4)
    }

    @Test func cancelEndsClaimsAndUndeliveredResultsAreListed() {
        let state = PassState(count: 100, window: 8)
        let batch = state.claim()!
        state.deliver(batch, failures: [])
        state.cancel()
        #expect(state.claim() == nil)
        #expect(state.undeliveredSlots() == Array(batch.map { $0 % 8 }))
    }

    /// Workers on threads of their own deliver in whatever order they finish; the consumer still
    /// sees every position once, in order, and the window is never exceeded.
    @Test func concurrentWorkersDeliverEveryPositionOnceInOrder() {
        let count = 5_000, window = 16
        let state = PassState(count: count, window: window) { start, limit in min(limit, start + 4) }
        let claimedTotal = Shared(0), highestClaimed = Shared(0)
        let group = DispatchGroup()
        for worker in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                var random = UInt64(worker + 1)
                while let batch = state.claim() {
                    claimedTotal.update { $0 += batch.count }
                    highestClaimed.update { $0 = max($0, batch.upperBound) }
                    random = random &* 6364136223846793005 &+ 1442695040888963407
                    if random >> 62 == 0 { usleep(50) }
                    state.deliver(batch, failures: [])
                }
            }.start()
        }
        var position = 0, runs = 0
        while position < count {
            let (ready, failure) = state.takeReady(from: position)
            #expect(failure == nil)
            #expect(ready > 0)
            position += ready
            runs += 1
        }
        state.cancel()
        group.wait()
        #expect(position == count)
        #expect(claimedTotal.current == count)
        #expect(highestClaimed.current == count)
        #expect(runs <= count)
    }
}
