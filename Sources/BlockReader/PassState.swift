import Foundation

/// Hands out batches of positions to workers, at most `window` ahead of the consumer, and tracks
/// which positions' results are ready (their values wait in the caller's slots, position modulo
/// the window) until the consumer takes them in order.
final class PassState: @unchecked Sendable {
    /// One lock, and a condition for each side: a delivered batch wakes the consumer only if it
    /// waits for that batch's first position, and workers only when room is made (one condition
    /// for both would wake everyone per batch: a context switch on a worker's core each time).
    private let monitor = PassMonitor()
    /// The position the consumer waits for, if it waits.
    private var consumerAwaits: Int?
    /// What each slot holds (position modulo the window: positions handed out lie within
    /// `consumed..<consumed + window`, so slots never collide).
    private enum Slot {
        case empty
        case ready
        case failed(Error)
    }
    private var slots: [Slot]
    private var nextClaim = 0
    /// Positions before this one are delivered: their slots may be claimed again.
    private var consumed = 0
    private var cancelled = false
    private let count: Int
    private let window: Int
    /// The end of the batch starting at a position, given the furthest end allowed.
    private let batchEnd: (_ start: Int, _ limit: Int) -> Int
    /// Bytes of the positions before each one (`count + 1` entries), and the budget ahead.
    private let prefixBytes: [Int]?
    private let maxBytesAhead: Int

    init(count: Int, window: Int, prefixBytes: [Int]? = nil, maxBytesAhead: Int = .max,
         batchEnd: @escaping (_ start: Int, _ limit: Int) -> Int = { start, _ in start + 1 }) {
        self.count = count
        self.window = window
        slots = Array(repeating: .empty, count: window)
        self.prefixBytes = prefixBytes
        self.maxBytesAhead = maxBytesAhead
        self.batchEnd = batchEnd
    }

    /// Whether the byte budget stops further claims now (never before anything is outstanding).
    private var bytesExhausted: Bool {
        guard let prefixBytes, nextClaim > consumed, nextClaim < count else { return false }
        return prefixBytes[nextClaim + 1] - prefixBytes[consumed] > maxBytesAhead
    }

    /// The furthest end the byte budget allows from `start` (at least one position).
    private func byteLimit(from start: Int) -> Int {
        guard let prefixBytes else { return count }
        let budget = prefixBytes[consumed] + maxBytesAhead
        var low = start + 1, high = count  // the answer is in low...high
        while low < high {
            let middle = (low + high + 1) / 2
            if prefixBytes[middle] <= budget { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Positions handed out but not yet consumed above which a worker waits: room for a whole
    /// batch is left when it wakes (waking for a single free slot would turn batches back into
    /// single blocks), and below it a worker never waits, so the steady state costs one wake-up
    /// per batch, the consumer's.
    private var resumeBelow: Int { window - maxBatch }
    /// Blocks in one batch at most: a quarter of the window, so workers keep a batch in hand.
    var maxBatch: Int { max(1, min(BlockPassOptions.maxBatchBlocks, window / 4)) }

    /// The next positions to work on, waiting while the window is full; nil when done or cancelled.
    func claim() -> Range<Int>? {
        monitor.lock()
        defer { monitor.unlock() }
        while !cancelled && nextClaim < count && (nextClaim - consumed >= resumeBelow || bytesExhausted) { monitor.waitForRoom() }
        guard !cancelled && nextClaim < count else { return nil }
        let limit = min(count, consumed + window, byteLimit(from: nextClaim))
        let end = max(nextClaim + 1, min(limit, nextClaim + maxBatch, batchEnd(nextClaim, limit)))
        defer { nextClaim = end }
        return nextClaim..<end
    }

    /// Marks a claimed batch done: its results are in their slots, except the failures'.
    func deliver(_ positions: Range<Int>, failures: [(position: Int, error: Error)]) {
        monitor.lock()
        for position in positions { slots[position % window] = .ready }
        for failure in failures { slots[failure.position % window] = .failed(failure.error) }
        if let awaited = consumerAwaits, positions.contains(awaited) { monitor.wakeConsumer() }
        monitor.unlock()
    }

    /// Positions before `position` are delivered (their slots are free again). Then waits until
    /// `position` is done and returns how many positions from it on are ready, in order, and
    /// the failure that ends the run, if one does (a run of 0 with a failure: `position` failed).
    /// The consumer owns the slots of the run until its next call.
    func takeReady(from position: Int) -> (ready: Int, failure: Error?) {
        monitor.lock()
        defer { monitor.unlock() }
        let wasExhausted = bytesExhausted
        let before = nextClaim - consumed
        consumed = position
        // Wake workers only when the window regained room for another batch, or bytes were freed.
        if (before >= resumeBelow && nextClaim - consumed < resumeBelow) || (wasExhausted && !bytesExhausted) { monitor.wakeWorkers() }
        while case .empty = slots[position % window] {
            consumerAwaits = position
            monitor.waitForResult()
        }
        consumerAwaits = nil
        var next = position
        while next < count, case .ready = slots[next % window] {
            slots[next % window] = .empty
            next += 1
        }
        if next < count, case let .failed(error) = slots[next % window] {
            slots[next % window] = .empty
            return (next - position, error)
        }
        return (next - position, nil)
    }

    /// Slots of positions whose results were made but not taken (only once the workers are
    /// done: after `cancel` and their end).
    func undeliveredSlots() -> [Int] {
        monitor.lock()
        defer { monitor.unlock() }
        return (0..<window).filter { if case .ready = slots[$0] { true } else { false } }
    }

    func cancel() {
        monitor.lock()
        cancelled = true
        monitor.wakeWorkers()
        monitor.wakeConsumer()
        monitor.unlock()
    }
}
