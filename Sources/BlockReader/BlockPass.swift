import BitcoinWire
import BlockFiles
import ChainIndex
import Dispatch
import Foundation

/// A block as a worker sees it: valid only inside the transform closure (its bytes may be a
/// reused de-obfuscation buffer or a view of a mapping released later).
public struct ParsedBlock {
    public let height: Int?
    public let hash: BlockHash
    public let location: RecordLocation
    public let view: BlockView
    /// Path of the blk file, for error messages.
    public let path: String
    /// The transactions' txids where verification computed them (nil with `verify` off): handed
    /// on so that nothing hashes a transaction twice.
    public let txids: [Txid]?
}

/// A block the pass cannot hand on, with the blk file and offset where it goes wrong.
public enum BlockPassError: Error, CustomStringConvertible, Sendable {
    /// The block does not parse, or fails a check Core makes at its height.
    case invalidBlock(path: String, offset: Int, block: BlockHash, reason: String)
    /// The file changed since the header pass (pruned, restored): the block is no longer there.
    case fileChanged(path: String, offset: Int, block: BlockHash, fileEnd: Int, blockEnd: Int)

    public var path: String {
        switch self {
        case let .invalidBlock(path, _, _, _), let .fileChanged(path, _, _, _, _): path
        }
    }

    public var offset: Int {
        switch self {
        case let .invalidBlock(_, offset, _, _), let .fileChanged(_, offset, _, _, _): offset
        }
    }

    public var description: String {
        switch self {
        case let .invalidBlock(path, offset, block, reason):
            "\(path) at offset \(offset): block \(block): \(reason)"
        case let .fileChanged(path, offset, block, fileEnd, blockEnd):
            "\(path) at offset \(offset): block \(block): the file changed since the header pass (it now ends at byte \(fileEnd), the block ran to \(blockEnd)); run again to rescan it"
        }
    }
}

/// Which checks the block pass makes besides parsing.
public struct BlockPassOptions: Sendable {
    /// Merkle root, and where Core checks them at the block's height the header version, BIP34
    /// coinbase height and witness commitment (`--no-verify` turns it off).
    public var verify = true
    /// With `verify`, the blocks whose witness commitment is checked (nil: every block). A reader
    /// to which witness bytes matter only in some blocks names those: in the others the merkle
    /// root already commits to every byte it reads, and the commitment would cost hashing each
    /// segwit transaction a second time (its wtxid).
    public var witnessCommitmentNeeded: (@Sendable (BlockView) -> Bool)?
    /// Worker threads (default: all cores).
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Run the workers this much nicer than the calling thread (nil: as nice). A consumer that is
    /// the pipeline's bottleneck (a replay applying blocks strictly in order) then keeps its core
    /// when workers it is waiting for anyway wake up; workers still take every core the consumer
    /// leaves idle, so a pass bound by parsing is as fast as before.
    public var workerNice: Int32?
    /// The nice increment a replay gives its workers (`workerNice`): enough that the scheduler
    /// gives the consumer about nine tenths of a contended core (weights 1024 against 110), not
    /// so much that any other process on the machine starves the workers.
    public static let replayWorkerNice: Int32 = 10
    /// Blocks parsed ahead of the consumer at most; bounds memory whatever the consumer's speed
    /// (with large blocks `maxBytesAhead` binds first).
    public var window = BlockPassOptions.defaultWindow
    /// Small blocks go through in batches of 64: a window of 16 batches lets a worker that
    /// finished early claim more while the batch at the head is still being parsed (with 4, on
    /// 2 cores, parse_all_cores on 100,000 small blocks ran 0.200-0.212 s against 0.200-0.201 s,
    /// and the filter pass scaled 1.44-1.65 x against 1.65-1.73 x); the results it holds are a
    /// few megabytes of small blocks'.
    public static let defaultWindow = 1024

    /// A worker claims neighbouring blocks together up to about this many bytes (at least one
    /// block), and at most `maxBatchBlocks` of them.
    public static let batchBytes = 1 << 20
    public static let maxBatchBlocks = 64
    /// Block bytes handed out ahead of the consumer at most, whatever the window: with large
    /// blocks this, not the block count, bounds the mapped pages resident and the results held.
    public static let maxBytesAhead = 64 << 20

    /// Read the blocks ahead of the workers on a thread of the pass's own (``ReadAhead``), so that
    /// a cold pass keeps the disk busy while it parses.
    public var readAhead = true
    /// With `readAhead`: asked as the pass reaches each blk file, whether to read its rev file
    /// ahead too (a reader that has been needing undo data).
    public var undoWanted: (@Sendable () -> Bool)?

    public init(verify: Bool = true, threads: Int? = nil, window: Int = BlockPassOptions.defaultWindow) {
        self.verify = verify
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.window = max(1, window)
    }
}

/// Parses blocks in parallel and hands the results to a consumer strictly in the given order.
public final class BlockPass: @unchecked Sendable {
    public let directory: BlocksDirectory
    public let index: ChainIndex
    public let options: BlockPassOptions

    public init(directory: BlocksDirectory, index: ChainIndex, options: BlockPassOptions = BlockPassOptions()) {
        self.directory = directory
        self.index = index
        self.options = options
    }

    /// Runs `transform` on the blocks of `records` (record indices, in delivery order) on worker
    /// threads and `consume` on the calling thread in that same order. A parse or verification
    /// failure stops the pass with an error naming the file and offset.
    ///
    /// Inlinable so that it is specialized for `T` where it is called: the pass itself
    /// (`runInOrder(records:produce:deliver:discard:)`) is not generic, and results wait in
    /// slots of `T`. Unspecialized generic code would look up the metadata of `T`, of its results
    /// and of their arrays in the runtime's shared caches for every block, on every worker at
    /// once: that contention, not the work, kept small blocks from scaling with cores.
    @inlinable
    public func run<T>(records: [Int],
                       transform: @escaping @Sendable (ParsedBlock) throws -> T,
                       consume: (Int, T) throws -> Void) throws {
        let slots = ResultSlots<T>(count: options.window)
        defer { slots.deallocate() }
        try runInOrder(records: records,
                       produce: { slot, block, stillValid in
                           let result = try transform(block)
                           try stillValid()  // what the transform read was the file's bytes
                           slots.initialize(slot, to: result)
                       },
                       deliver: { recordIndex, slot in try consume(recordIndex, slots.take(slot)) },
                       discard: { slots.discard($0) })
    }

    /// The pass without its result type: `produce` parses a block into result slot `slot` (on a
    /// worker; slot = position modulo the window, owned by that worker until delivered), calling
    /// `stillValid` before it stores its result (it throws if the file shrank under the read),
    /// `deliver` hands a record's slot to the consumer (on the calling thread, in order), and
    /// `discard` drops a result that will not be delivered (after an error).
    @usableFromInline
    func runInOrder(records: [Int],
                    produce: @escaping @Sendable (_ slot: Int, ParsedBlock, _ stillValid: () throws -> Void) throws -> Void,
                    deliver: (_ recordIndex: Int, _ slot: Int) throws -> Void,
                    discard: (_ slot: Int) -> Void) throws {
        guard !records.isEmpty else { return }
        let sizes = records.map { index.entries[$0].location.size }
        var prefix = [0]
        prefix.reserveCapacity(sizes.count + 1)
        for size in sizes { prefix.append(prefix[prefix.count - 1] + size) }
        let window = options.window
        let state = PassState(count: records.count, window: window, prefixBytes: prefix,
                              maxBytesAhead: BlockPassOptions.maxBytesAhead) { start, limit in
            // Claim neighbouring blocks together up to about `batchBytes`: a lock, a wake-up and a
            // hand-over per batch rather than per block is what lets small blocks scale with cores.
            var end = start, bytes = 0
            while end < limit && end - start < BlockPassOptions.maxBatchBlocks && (end == start || bytes + sizes[end] <= BlockPassOptions.batchBytes) {
                bytes += sizes[end]
                end += 1
            }
            return end
        }
        let locations = records.map { index.entries[$0].location }
        let files = MappingCache(directory: directory, records: locations)
        let readAhead = options.readAhead ? ReadAhead(directory: directory, locations: locations, prefixBytes: prefix, undoWanted: options.undoWanted) : nil
        readAhead?.start()
        let workers = min(options.threads, records.count)
        let group = DispatchGroup()
        for _ in 0..<workers {
            // Threads of the pass's own rather than Dispatch's shared pool: a worker may lower
            // its scheduling priority, and that must not outlive the pass in a pooled thread.
            group.enter()
            let worker = Thread { [self] in
                defer { group.leave() }
                Thread.current.name = "block-pass"  // as profilers and `top -H` show it
                if let nice = options.workerNice { Self.lowerPriorityOfCurrentThread(by: nice) }
                var buffer: [UInt8] = []
                var locations: [RecordLocation] = []
                while let batch = state.claim() {
                    var failures: [(position: Int, error: Error)] = []
                    // The batch's file, looked up once per file rather than once per block (each
                    // lookup is a lock the other workers contend for).
                    var current: (number: Int, mapped: MappedFile)?
                    for position in batch {
                        let recordIndex = records[position]
                        let number = index.entries[recordIndex].location.file
                        do {
                            if current?.number != number { current = (number, try files.mapping(number)) }
                            let mapped = current!.mapped
                            try self.process(recordIndex: recordIndex, file: mapped, buffer: &buffer) { block in
                                try produce(position % window, block) { try Self.checkNotCutShort(mapped, block: block) }
                            }
                        } catch {
                            failures.append((position, error))
                        }
                    }
                    current = nil
                    state.deliver(batch, failures: failures)
                    // Done with these blocks: their files' counts, and their bytes out of
                    // resident memory (still cached), under one lock.
                    locations.removeAll(keepingCapacity: true)
                    for position in batch { locations.append(index.entries[records[position]].location) }
                    files.finished(locations)
                }
            }
            worker.start()
        }
        defer {
            readAhead?.stop()
            state.cancel()
            group.wait()
            // Results made but never delivered (the pass stopped early): the workers are done.
            for slot in state.undeliveredSlots() { discard(slot) }
        }
        // Results come over in runs of consecutive ready blocks: one lock round trip per run, not
        // per block.
        var position = 0
        while position < records.count {
            let (ready, failure) = state.takeReady(from: position)
            let run = position..<(position + ready)
            for current in run {
                do {
                    try deliver(records[current], current % window)
                } catch {
                    // This position's result went to `deliver`; the rest of the run was taken
                    // from the state, so its results are dropped here.
                    for rest in (current + 1)..<run.upperBound { discard(rest % window) }
                    throw error
                }
            }
            position = run.upperBound
            readAhead?.consumed(upTo: position)
            if let failure { throw failure }
        }
    }

    /// Raises the calling thread's nice value by `nice` (a lower priority; Linux applies
    /// `setpriority(PRIO_PROCESS, 0, ...)` to the calling thread alone). Best effort: a thread
    /// left at its priority is only slower, never wrong.
    static func lowerPriorityOfCurrentThread(by nice: Int32) {
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        guard errno == 0 else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, min(19, current + nice))
    }

    private func process(recordIndex: Int, file: MappedFile, buffer: inout [UInt8],
                         transform: (ParsedBlock) throws -> Void) throws {
        let record = index.entries[recordIndex]
        let location = record.location
        // The file is mapped again after the header pass: it may have shrunk or been replaced in
        // between (pruning, a restore). Never slice past the new mapping.
        guard location.payloadOffset + location.size <= file.bytes.count else {
            throw BlockPassError.fileChanged(path: file.path, offset: location.offset, block: record.hash, fileEnd: file.bytes.count,
                                             blockEnd: location.payloadOffset + location.size)
        }
        let stored = UnsafeRawBufferPointer(rebasing: file.bytes[location.payloadOffset..<(location.payloadOffset + location.size)])
        if file.wasCutShort { throw Self.cutShort(file, record: record) }
        // What follows the record in the file (the reserved zeros, where bitcoind is writing it).
        let after = UnsafeRawBufferPointer(rebasing: file.bytes[(location.payloadOffset + location.size)...])
        if directory.xorKey.isIdentity {
            return try parse(stored, stored: stored, after: after, record: record, recordIndex: recordIndex, path: file.path, transform: transform)
        }
        directory.xorKey.copyApplying(from: stored, fileOffset: location.payloadOffset, into: &buffer)
        if file.wasCutShort { throw Self.cutShort(file, record: record) }  // the copy read zeros
        return try buffer.withUnsafeBytes { raw in
            try parse(raw, stored: stored, after: after, record: record, recordIndex: recordIndex, path: file.path, transform: transform)
        }
    }

    /// `stored` is the record's payload as the file holds it (obfuscated where the directory is):
    /// what bitcoind has not written over yet is zeros there.
    private func parse(_ payload: UnsafeRawBufferPointer, stored: UnsafeRawBufferPointer, after: UnsafeRawBufferPointer,
                       record: BlockEntry, recordIndex: Int, path: String,
                       transform: (ParsedBlock) throws -> Void) throws {
        let location = record.location
        do {
            let view = try BlockView.parse(payload)
            let height = record.height
            var txids: [Txid]?
            if options.verify {
                let computed = view.txids()
                // Each contextual check only where Core makes it: at this height on this network.
                try view.verify(txids: computed, rules: height.map { directory.network.consensus.rules(atHeight: $0) } ?? .contextFree,
                                witnessCommitment: options.witnessCommitmentNeeded?(view) ?? true)
                txids = computed
            }
            return try transform(ParsedBlock(height: height, hash: record.hash, location: location, view: view, path: path, txids: txids))
        } catch let error as WireError {
            if Self.isPartlyWritten(stored, after: after, file: location.file, of: directory) {
                throw NotYetWritten(record: .block, path: path, block: record.hash, height: record.height ?? -1)
            }
            throw BlockPassError.invalidBlock(path: path, offset: location.payloadOffset + error.offset, block: record.hash,
                                              reason: Self.describe(error))
        }
    }

    /// The file shrank under the mapping while the block was read (pruned, rewritten): what was
    /// read past its new end was zeros, not the block.
    static func cutShort(_ file: MappedFile, record: BlockEntry) -> BlockPassError {
        .fileChanged(path: file.path, offset: record.location.offset, block: record.hash, fileEnd: Self.currentSize(file.path),
                     blockEnd: record.location.payloadOffset + record.location.size)
    }

    static func checkNotCutShort(_ file: MappedFile, block: ParsedBlock) throws {
        guard file.wasCutShort else { return }
        throw BlockPassError.fileChanged(path: file.path, offset: block.location.offset, block: block.hash, fileEnd: currentSize(file.path),
                                         blockEnd: block.location.payloadOffset + block.location.size)
    }

    static func currentSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// A block that does not parse or verify is one bitcoind is still writing where it is the
    /// last record of the newest blk file, its stored bytes end in a zero and reserved zeros, and
    /// nothing else, follow it: the space bitcoind reserves ahead of its writes, not yet written over (zeros on
    /// disk even in an obfuscated directory). A write cut anywhere, even in the record's last
    /// bytes, looks so; a valid block never gets here (it parses and verifies).
    static func isPartlyWritten(_ stored: UnsafeRawBufferPointer, after: UnsafeRawBufferPointer, file: Int,
                                of directory: BlocksDirectory) -> Bool {
        // Reserved zeros must follow: a record that ends with the file was written whole (a
        // write cut short there leaves the record shorter than its size, found by the scanner).
        guard file == directory.blockFiles.last, stored.last == 0, !after.isEmpty else { return false }
        return after.allSatisfy { $0 == 0 }
    }

    static func describe(_ error: WireError) -> String {
        // WireError's own text names the offset within the block; the caller names the file offset.
        switch error.kind {
        case let .truncated(needed, available): return "truncated: needed \(needed) bytes, \(available) left"
        case .nonCanonicalCompactSize: return "non-canonical CompactSize"
        case let .compactSizeTooLarge(v): return "CompactSize \(v) above the 32 MiB limit"
        case .varIntOverflow: return "VARINT overflow"
        case let .countExceedsBytes(what, count, remaining): return "\(what) count \(count) cannot fit in the \(remaining) bytes left"
        case let .invalid(message): return message
        }
    }
}

/// Results of type `T` waiting for the consumer, one slot per position modulo the pass's window:
/// a worker initializes the slots of the positions it claimed, the consumer takes them in order
/// after the pass's state says they are ready (its lock orders the two).
@usableFromInline
final class ResultSlots<T>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<T>

    @inlinable init(count: Int) { base = .allocate(capacity: count) }
    @inlinable func initialize(_ slot: Int, to value: T) { (base + slot).initialize(to: value) }
    @inlinable func take(_ slot: Int) -> T { (base + slot).move() }
    @inlinable func discard(_ slot: Int) { (base + slot).deinitialize(count: 1) }
    /// Frees the slots; every initialized one must have been taken or discarded.
    @inlinable func deallocate() { base.deallocate() }
}

/// Hands out batches of positions to workers, at most `window` ahead of the consumer, and tracks
/// which positions' results are ready (their values wait in the caller's slots, position modulo
/// the window) until the consumer takes them in order.
final class PassState: @unchecked Sendable {
    /// One lock, and a condition for each side: a delivered batch wakes the consumer only if it
    /// waits for that batch's first position, and workers only when room is made. (One
    /// condition broadcast per batch woke everyone: a context switch per batch on the core a
    /// worker was using, about 7 % of a small-block pass on 2 cores.)
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

/// A mutex with two condition variables, one per side of the pass (Foundation's `NSCondition`
/// has one condition per lock, so waking one side meant waking both).
final class PassMonitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let room = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let ready = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(room, nil)
        pthread_cond_init(ready, nil)
    }

    deinit {
        pthread_cond_destroy(ready)
        pthread_cond_destroy(room)
        pthread_mutex_destroy(mutex)
        ready.deallocate()
        room.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// With the lock held: waits until woken (or spuriously); callers loop on their condition.
    func waitForRoom() { pthread_cond_wait(room, mutex) }
    func waitForResult() { pthread_cond_wait(ready, mutex) }
    func wakeWorkers() { pthread_cond_broadcast(room) }
    /// One consumer at most waits.
    func wakeConsumer() { pthread_cond_signal(ready) }
}

/// Maps each blk file while blocks from it are pending and unmaps it after the last one, so
/// resident memory stays bounded however large the directory is.
final class MappingCache: @unchecked Sendable {
    private let lock = NSLock()
    private let directory: BlocksDirectory
    private var pending: [Int: Int] = [:]
    private var mappings: [Int: MappedFile] = [:]

    init(directory: BlocksDirectory, records: [RecordLocation]) {
        self.directory = directory
        for location in records { pending[location.file, default: 0] += 1 }
    }

    /// Spans of block bytes done with, per file, not yet released.
    private var done = DoneSpans()

    /// Records that the blocks at `locations` are done with: a file none of whose blocks is
    /// pending any more is unmapped; otherwise, once enough of it is done, those pages leave
    /// resident memory (see `DoneSpans`).
    func finished(_ locations: [RecordLocation]) {
        var due: [(MappedFile, Range<Int>)] = []
        lock.lock()
        for location in locations {
            let range = location.offset..<(location.payloadOffset + location.size)
            if let span = done.add(range, ofFile: location.file), let mapped = mappings[location.file] { due.append((mapped, span)) }
            pending[location.file, default: 0] -= 1
            if pending[location.file] == 0 {
                mappings[location.file] = nil
                done.forget(location.file)
            }
        }
        lock.unlock()
        for (file, range) in due { file.releasePages(range) }
    }

    func mapping(_ file: Int) throws -> MappedFile {
        lock.lock()
        defer { lock.unlock() }
        if let mapped = mappings[file] { return mapped }
        let mapped = try MappedFile(path: directory.blockFilePath(file))
        mapped.adviseSequential()
        mappings[file] = mapped
        return mapped
    }

}
