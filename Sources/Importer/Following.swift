import BlockFiles
import ChainIndex
import Dispatch
import Foundation
import Virtualchain

/// A request to stop at the next block boundary: set by SIGINT/SIGTERM once
/// ``installSignalHandlers()`` ran, or by ``set()``. Safe from any thread.
public final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var sources: [DispatchSourceSignal] = []

    public init() {}

    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    public func set() { lock.lock(); stopped = true; lock.unlock() }

    /// SIGINT and SIGTERM set the signal instead of ending the process.
    public func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.set() }
            source.resume()
            sources.append(source)
        }
    }
}

/// Where the blocks come from, for imports that look at the directory more than once.
public struct ChainSource: Sendable {
    /// Opens the blocks directory afresh (it lists the blk files present now).
    public var open: @Sendable () throws -> BlocksDirectory
    /// The height of the first available block of a pruned directory, if given.
    public var baseHeight: Int?

    public init(baseHeight: Int? = nil, open: @escaping @Sendable () throws -> BlocksDirectory) {
        self.open = open
        self.baseHeight = baseHeight
    }
}

extension Importer {
    /// Imports what `source` holds, then, with `follow`, looks again every `pollInterval`
    /// seconds until `stop` is set, importing what arrived.
    ///
    /// The first header pass goes through the state directory's persistent header index; each
    /// later look updates the tree in memory with what was appended (and appends that to the
    /// index), and replays on the state kept open: a look's cost is that of the new blocks, not
    /// of the chain. A look at a directory whose blk files are unchanged costs a listing and a
    /// stat per file. `indexed` sees each new header pass (to report its findings),
    /// `reported` each import's report; both say whether it is the first. Stops (without error)
    /// after an interrupted import.
    public func follow(_ source: ChainSource, follow: Bool, pollInterval: Double, stop: StopSignal,
                       progress: ((ReplayProgress) -> Void)? = nil,
                       indexed: (ChainIndex, _ isFirst: Bool) -> Void = { _, _ in },
                       reported: (ImportReport, _ isFirst: Bool) throws -> Void) throws {
        var first = true
        // The block tree, kept between looks and brought up to date at each (reading only what
        // was appended), and whether the last look left work that an unchanged directory still
        // needs (a block waiting for its undo record).
        var index: ChainIndex?
        var lookAgain = true
        let headerIndex = HeaderIndexStore(stateDirectory: stateDirectory)
        while first || (follow && !stop.isSet) {
            if !first {
                var waited = 0.0
                while waited < pollInterval && !stop.isSet {
                    let step = min(Self.stopCheckInterval, pollInterval - waited)
                    usleep(UInt32(step * 1e6))
                    waited += step
                }
                if stop.isSet { break }
            }
            let directory = try source.open()
            if !lookAgain, let index, index.isCurrent(for: directory) { continue }
            if index == nil {
                // A first start writes the whole persistent index: while the replay goes on.
                index = try ChainIndex(directory: directory, baseHeight: source.baseHeight, headerIndex: headerIndex,
                                       writingIndexInBackground: true)
            } else {
                try index!.update(directory: directory, headerIndex: headerIndex)
            }
            indexed(index!, first)
            let report: ImportReport
            do {
                report = try run(directory: directory, index: index!, progress: progress, shouldStop: { stop.isSet },
                                 checkpointAtEnd: !follow || first, keepOpen: follow)
            } catch {
                try? index!.finishIndexWrite()  // not left half-written behind an error
                throw error
            }
            try index!.finishIndexWrite()
            try reported(report, first)
            first = false
            lookAgain = report.summary.waitingForBitcoind != nil
            if report.summary.interrupted { break }
        }
        // The tip the follow reached gets its checkpoint (the looks wrote one every
        // `checkpointEvery` blocks only).
        if follow { _ = try finishFollowing() }
    }

    /// How often a wait between looks checks for a stop request (seconds): short enough that
    /// SIGINT feels immediate, long enough to cost nothing.
    public static var stopCheckInterval: Double { 0.1 }

    /// Replays from scratch into `stateDirectory` + ".rebuild", then swaps it in place of
    /// `stateDirectory`: the previous state stays untouched until the new one is complete (and
    /// is kept if the replay fails or is interrupted). `replay` runs the fresh importer.
    @discardableResult
    public static func rebuild(machine: Machine, stateDirectory: String, network: Network, options: ImporterOptions = ImporterOptions(),
                               replay: (Importer) throws -> ImportReport) throws -> ImportReport {
        let fm = FileManager.default
        let target = stateDirectory.hasSuffix("/") ? String(stateDirectory.dropLast()) : stateDirectory
        let fresh = target + rebuildSuffix
        // No other process may be writing the state being replaced.
        let targetLock = fm.fileExists(atPath: target) ? try StateLock(directory: target) : nil
        if fm.fileExists(atPath: fresh) { try fm.removeItem(atPath: fresh) }
        let report = try replay(Importer(machine: machine, stateDirectory: fresh, network: network, options: options))
        guard !report.summary.interrupted else {
            throw ImporterError.rebuildInterrupted(target: target, partial: fresh)
        }
        let old = target + ".old"
        if fm.fileExists(atPath: old) { try fm.removeItem(atPath: old) }
        if fm.fileExists(atPath: target) { try fm.moveItem(atPath: target, toPath: old) }
        try fm.moveItem(atPath: fresh, toPath: target)
        withExtendedLifetime(targetLock) {}
        try? fm.removeItem(atPath: old)
        return report
    }

    /// Where a rebuild replays before it replaces the state.
    public static var rebuildSuffix: String { ".rebuild" }
}
