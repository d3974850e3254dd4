import BitcoinWire
import BlockFiles
import Checkpoints
import Dispatch
import Foundation
import Virtualchain

/// Takes database snapshots on the replay thread (the only stall) and compresses and writes them
/// on a background queue, one at a time.
final class CheckpointWriter: @unchecked Sendable {
    let store: CheckpointStore
    let retention: CheckpointStore.Retention
    /// Faults the tests inject into the writes (none for a user).
    let faults: WriteFaults
    private let queue = DispatchQueue(label: "virtualchain.checkpoint-writer")
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var failure: CheckpointError?

    // Measurements, in seconds and bytes.
    private(set) var stallSeconds = 0.0
    private var writeSeconds = 0.0
    private(set) var written = 0
    private var payloadBytes = 0
    private var fileBytes = 0
    private(set) var lastHeight: Int?
    /// When the last snapshot began, and what it cost (its stall plus its background write).
    private var lastStart: UInt64?
    private var lastStall = 0.0
    private var lastWrite = 0.0
    private var lastPayloadBytes = 0

    init(store: CheckpointStore, retention: CheckpointStore.Retention, faults: WriteFaults = .none) {
        self.store = store
        self.retention = retention
        self.faults = faults
    }

    /// The state whose database file a write in flight is reading (its snapshot ends, on the
    /// replay thread, once that write is done).
    private var snapshotInUse: StateStore?

    /// Set by the background write when it is done with the database file.
    private var snapshotReleased = false

    /// Waits for the write in flight and ends its file snapshot. On the replay thread; before
    /// the state is closed.
    func waitForWrite() throws {
        group.wait()
        if let state = snapshotInUse {
            snapshotInUse = nil
            try state.endFileSnapshot()
        }
    }

    /// Ends the file snapshot as soon as its write is done (called on the replay thread after
    /// every block): while it lasts SQLite's log only grows, so it must not outlive the write.
    func releaseSnapshotIfWritten() throws {
        guard snapshotInUse != nil else { return }
        lock.lock()
        let released = snapshotReleased
        lock.unlock()
        if released { try waitForWrite() }
    }

    /// Snapshots the state now and writes it in the background: streamed from the database file
    /// itself (memory stays bounded; the stall is a checkpoint of SQLite's log), or, where the
    /// file cannot be frozen, from an image in memory. `threads` compress it: one while a replay
    /// runs beside it, all cores for the tip's checkpoint that an import waits for at its end.
    func checkpoint(state: StateStore, threads: Int = 1, header: (Int) -> CheckpointHeader) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        try waitForWrite()  // one write in flight at most
        try throwIfFailed()
        if let snapshot = try state.beginFileSnapshot() {
            snapshotInUse = state
            lock.lock()
            snapshotReleased = false
            lock.unlock()
            let base = snapshotTaken(startedAt: start, header: header(snapshot.bytes))
            write(payloadBytes: snapshot.bytes) { [self] () throws(CheckpointError) -> String in
                try store.write(header: base, payloadDescriptor: snapshot.descriptor, payloadPath: snapshot.path, payloadBytes: snapshot.bytes, retention: retention,
                                threads: threads, faults: faults)
            }
            return
        }
        let image = try state.snapshotImage()
        let base = snapshotTaken(startedAt: start, header: header(image.count))
        write(payloadBytes: image.count) { [self] () throws(CheckpointError) -> String in
            var complete = base
            complete.payloadSHA256 = Hex.encode(Hashes.sha256(image).bytes)
            return try store.write(header: complete, payload: image, retention: retention, faults: faults)
        }
    }

    /// Accounts for the stall of a snapshot just taken; returns its checkpoint's header.
    private func snapshotTaken(startedAt start: UInt64, header: CheckpointHeader) -> CheckpointHeader {
        let stall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        stallSeconds += stall
        lock.lock()
        lastStart = start
        lastStall = stall
        lastWrite = 0
        lastPayloadBytes = header.payloadBytes
        lock.unlock()
        lastHeight = header.height
        return header
    }

    /// Runs `work` (which writes the checkpoint and returns its path) on the background queue,
    /// keeping its cost and any failure; then lets the replay thread end the file snapshot.
    private func write(payloadBytes: Int, _ work: @escaping @Sendable () throws(CheckpointError) -> String) {
        queue.async(group: group) { [self] in
            let began = DispatchTime.now().uptimeNanoseconds
            do throws(CheckpointError) {
                finished(began: began, payloadBytes: payloadBytes, path: try work())
            } catch {
                lock.lock()
                failure = error
                lock.unlock()
            }
            lock.lock()
            snapshotReleased = true
            lock.unlock()
        }
    }

    /// Counts a checkpoint written in the background.
    private func finished(began: UInt64, payloadBytes bytes: Int, path: String) {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        lock.lock()
        written += 1
        payloadBytes += bytes
        fileBytes += size
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        writeSeconds += seconds
        lastWrite = seconds
        lock.unlock()
    }

    /// Gives the cost rule a starting point before this run's first checkpoint, from which it
    /// would otherwise find the first boundary due whatever the state's size: a run resuming a
    /// large state wrote a whole image of it near its start, beside the tip's at its end. The
    /// state's checkpoint is assumed to cost its bytes at `assumedBytesPerSecond`, counted from
    /// now; the first checkpoint written replaces the guess with what it cost.
    func assumeCost(stateBytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard lastStart == nil else { return }
        lastStart = DispatchTime.now().uptimeNanoseconds
        lastStall = Double(stateBytes) / Double(Self.assumedBytesPerSecond)
        lastWrite = 0
        lastPayloadBytes = stateBytes
    }

    /// A low estimate of how fast a checkpoint beside the replay goes through a state (hashing,
    /// LZ4 on one core and the write; 250-450 MB/s measured), so the guess errs towards waiting.
    static let assumedBytesPerSecond = 200_000_000

    /// Whether a checkpoint of a state of `stateBytes` now keeps checkpoints within `share` of
    /// the time: its expected cost (the previous one's snapshot and write, scaled by how much the
    /// state grew since) must be at most `share` of the time since the previous one began. A
    /// state that grows with the chain makes each checkpoint dearer; spacing them by their cost
    /// keeps their total a bounded fraction of the import, however long the chain (scaling by the
    /// growth keeps it so while the state doubles between early checkpoints). `nil` never defers.
    func isDue(share: Double?, stateBytes: Int) -> Bool {
        guard let share, share > 0 else { return true }
        lock.lock()
        defer { lock.unlock() }
        guard let lastStart else { return true }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - lastStart) / 1e9
        return Self.isDue(share: share, elapsed: elapsed, lastCost: lastStall + lastWrite, lastPayloadBytes: lastPayloadBytes, stateBytes: stateBytes)
    }

    /// The rule of `isDue(share:stateBytes:)`: the last checkpoint cost `lastCost` seconds for
    /// `lastPayloadBytes`, the state now has `stateBytes`, and `elapsed` seconds passed since the
    /// last one began.
    static func isDue(share: Double, elapsed: Double, lastCost: Double, lastPayloadBytes: Int, stateBytes: Int) -> Bool {
        let growth = lastPayloadBytes > 0 ? max(1, Double(stateBytes) / Double(lastPayloadBytes)) : 1
        return lastCost * growth <= share * elapsed
    }

    private func throwIfFailed() throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw ImporterError.checkpointNotWritten(reason: failure.description) }
    }

    /// Waits for the write in flight; reports its failure, if any.
    func finish() throws -> CheckpointStats {
        try waitForWrite()
        try throwIfFailed()
        lock.lock()
        defer { lock.unlock() }
        return CheckpointStats(written: written, stallSeconds: stallSeconds, writeSeconds: writeSeconds, payloadBytes: payloadBytes, fileBytes: fileBytes)
    }
}

public struct CheckpointStats: Sendable {
    public var written = 0
    /// Time the replay waited for snapshots (and for a previous write to finish).
    public var stallSeconds = 0.0
    /// Background time spent hashing, compressing and writing.
    public var writeSeconds = 0.0
    public var payloadBytes = 0
    public var fileBytes = 0
}
