import BitcoinWire
import BlockFiles
import ChainIndex
import Dispatch
import Foundation

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

    /// Runs `transform` on the blocks of `entries` (in delivery order) on worker
    /// threads and `consume` on the calling thread in that same order. A parse or verification
    /// failure stops the pass with an error naming the file and offset.
    ///
    /// Inlinable so that it is specialized for `T` where it is called: the pass itself
    /// (`runInOrder(entries:produce:deliver:discard:)`) is not generic, and results wait in
    /// slots of `T`. Unspecialized generic code would look up the metadata of `T`, of its results
    /// and of their arrays in the runtime's shared caches for every block, on every worker at
    /// once: that contention, not the work, kept small blocks from scaling with cores.
    @inlinable
    public func run<T>(entries: [EntryIndex],
                       transform: @escaping @Sendable (ParsedBlock) throws -> T,
                       consume: (EntryIndex, T) throws -> Void) throws {
        let slots = ResultSlots<T>(count: options.window)
        defer { slots.deallocate() }
        try runInOrder(entries: entries,
                       produce: { slot, block, stillValid in
                           let result = try transform(block)
                           try stillValid()  // what the transform read was the file's bytes
                           slots.initialize(slot, to: result)
                       },
                       deliver: { entry, slot in try consume(entry, slots.take(slot)) },
                       discard: { slots.discard($0) })
    }

    /// The pass without its result type: `produce` parses a block into result slot `slot` (on a
    /// worker; slot = position modulo the window, owned by that worker until delivered), calling
    /// `stillValid` before it stores its result (it throws if the file shrank under the read),
    /// `deliver` hands a record's slot to the consumer (on the calling thread, in order), and
    /// `discard` drops a result that will not be delivered (after an error).
    @usableFromInline
    func runInOrder(entries: [EntryIndex],
                    produce: @escaping @Sendable (_ slot: Int, ParsedBlock, _ stillValid: () throws -> Void) throws -> Void,
                    deliver: (_ entry: EntryIndex, _ slot: Int) throws -> Void,
                    discard: (_ slot: Int) -> Void) throws {
        guard !entries.isEmpty else { return }
        let sizes = entries.map { index.entries[$0].location.size }
        var prefix = [0]
        prefix.reserveCapacity(sizes.count + 1)
        for size in sizes { prefix.append(prefix[prefix.count - 1] + size) }
        let window = options.window
        let state = PassState(count: entries.count, window: window, prefixBytes: prefix,
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
        let locations = entries.map { index.entries[$0].location }
        let files = MappingCache(directory: directory, records: locations)
        let readAhead = options.readAhead ? ReadAhead(directory: directory, locations: locations, prefixBytes: prefix, undoWanted: options.undoWanted) : nil
        readAhead?.start()
        let workers = min(options.threads, entries.count)
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
                        let entry = entries[position]
                        let number = index.entries[entry].location.file
                        do {
                            if current?.number != number { current = (number, try files.mapping(number)) }
                            let mapped = current!.mapped
                            try self.process(entry, file: mapped, buffer: &buffer) { block in
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
                    for position in batch { locations.append(index.entries[entries[position]].location) }
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
        while position < entries.count {
            let (ready, failure) = state.takeReady(from: position)
            let run = position..<(position + ready)
            for current in run {
                do {
                    try deliver(entries[current], current % window)
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

    private func process(_ entry: EntryIndex, file: MappedFile, buffer: inout [UInt8],
                         transform: (ParsedBlock) throws -> Void) throws {
        let record = index.entries[entry]
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
            return try parse(stored, stored: stored, after: after, record: record, path: file.path, transform: transform)
        }
        directory.xorKey.copyApplying(from: stored, fileOffset: location.payloadOffset, into: &buffer)
        if file.wasCutShort { throw Self.cutShort(file, record: record) }  // the copy read zeros
        return try buffer.withUnsafeBytes { raw in
            try parse(raw, stored: stored, after: after, record: record, path: file.path, transform: transform)
        }
    }

    /// `stored` is the record's payload as the file holds it (obfuscated where the directory is):
    /// what bitcoind has not written over yet is zeros there.
    private func parse(_ payload: UnsafeRawBufferPointer, stored: UnsafeRawBufferPointer, after: UnsafeRawBufferPointer,
                       record: BlockEntry, path: String,
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
                                              reason: error.kind.description)
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
}
