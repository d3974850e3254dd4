import BlockFiles
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Keeps the disk busy ahead of a block pass: a thread of its own asks the kernel to read the
/// blocks the pass will need next (`posix_fadvise(WILLNEED)`: the kernel starts the reads and
/// returns), and, for a reader that needs undo data, each
/// rev file when the pass reaches its blk file, while the workers parse and hash what is already
/// in memory.
///
/// Without it, a worker that touches a block not yet read waits for the disk with its core idle,
/// and disk and CPU take turns: a cold import took the sum of both. With it, they overlap.
///
/// Bounded: it runs at most `maxBytesAhead` of block bytes ahead of the consumer, so on a
/// directory larger than memory it never reads so far ahead that its own pages are evicted
/// before use (pages read once are the first the kernel reclaims; nothing behind the consumer
/// is re-read). Best effort: a failed or refused read-ahead only costs speed; the pass reads and
/// checks every byte itself.
final class ReadAhead: @unchecked Sendable {
    /// Block bytes read ahead of the consumer at most, by default: four times the pass's own window
    /// (`BlockPassOptions.maxBytesAhead`), so workers find their blocks in memory, yet a small
    /// share of any machine's memory.
    static let defaultMaxBytesAhead = 256 << 20
    let maxBytesAhead: Int
    /// Ranges of one file closer than this are read in one request (the gap costs less than a
    /// second request on any disk).
    static let mergeGap = 1 << 20
    /// Bytes asked for per call at most: Linux reads ahead at most the device's read-ahead
    /// window per `WILLNEED` call (128 KiB to a few MiB) and drops the rest of a larger range.
    static let requestBytes = 1 << 20

    private let directory: BlocksDirectory
    private let locations: [RecordLocation]
    /// Bytes of the blocks before each position (as the pass's `prefixBytes`).
    private let prefixBytes: [Int]
    /// Whether the pass now reads undo data (asked as it reaches each blk file).
    private let undoWanted: (@Sendable () -> Bool)?
    private let condition = NSCondition()
    private var consumed = 0
    private var stopped = false
    private var thread: Thread?

    /// Positions whose reads were requested so far (for tests: the bound holds).
    var requested: Int {
        condition.lock()
        defer { condition.unlock() }
        return requestedPositions
    }
    private var requestedPositions = 0

    /// Reads ahead of a pass over `locations` (in the pass's order); where `undoWanted` says so
    /// when it reaches a blk file, that file's rev file too.
    init(directory: BlocksDirectory, locations: [RecordLocation], prefixBytes: [Int], undoWanted: (@Sendable () -> Bool)?,
         maxBytesAhead: Int = ReadAhead.defaultMaxBytesAhead) {
        self.maxBytesAhead = maxBytesAhead
        self.directory = directory
        self.locations = locations
        self.prefixBytes = prefixBytes
        self.undoWanted = undoWanted
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "read-ahead"
        self.thread = thread
        thread.start()
    }

    /// The consumer has taken the blocks before `position`.
    func consumed(upTo position: Int) {
        condition.lock()
        if position > consumed {
            consumed = position
            condition.signal()
        }
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Waits until reading the block at `position` stays within the bound; false once stopped.
    private func mayRead(_ position: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && prefixBytes[position] - prefixBytes[consumed] > maxBytesAhead {
            condition.wait()
        }
        if !stopped { requestedPositions = position + 1 }
        return !stopped
    }

    private func run() {
        var open: (file: Int, descriptor: Int32)?
        var pending: (start: Int, end: Int)?
        var undoRead = Set<Int>()
        func flush() {
            if let descriptor = open?.descriptor, let range = pending { Self.willNeed(descriptor, range.start..<range.end) }
            pending = nil
        }
        defer {
            flush()
            if let descriptor = open?.descriptor { close(descriptor) }
        }
        for (position, location) in locations.enumerated() {
            guard mayRead(position) else { return }
            if open?.file != location.file {
                flush()
                if let descriptor = open?.descriptor { close(descriptor) }
                open = (try? ReadOnlyFile.open(directory.blockFilePath(location.file))).map { (location.file, $0.descriptor) }
                if undoWanted?() == true && undoRead.insert(location.file).inserted { readWhole(directory.undoFilePath(location.file)) }
            }
            let start = location.offset, end = location.payloadOffset + location.size
            if let range = pending, start >= range.start - Self.mergeGap, start <= range.end + Self.mergeGap {
                pending = (min(range.start, start), max(range.end, end))
            } else {
                flush()
                pending = (start, end)
            }
            // A request at a time of at most the pass's own batch: the workers' blocks first.
            if let range = pending, range.end - range.start >= BlockPassOptions.batchBytes * 4 { flush() }
        }
    }

    /// The whole of a rev file (undo records are sought across it, in about file order).
    private func readWhole(_ path: String) {
        guard let (descriptor, size) = try? ReadOnlyFile.open(path) else { return }
        Self.willNeed(descriptor, 0..<size)
        close(descriptor)
    }

    /// Asks the kernel to read `range` of the file, a `requestBytes` piece at a time.
    static func willNeed(_ descriptor: Int32, _ range: Range<Int>) {
        var start = range.lowerBound
        while start < range.upperBound {
            let length = min(requestBytes, range.upperBound - start)
            _ = posix_fadvise(descriptor, off_t(start), off_t(length), POSIX_FADV_WILLNEED)
            start += length
        }
    }
}
