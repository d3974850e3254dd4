import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import TestChain

/// The persistent, incremental header index: whatever happened to the directory since (appends,
/// new files, a reorganisation, truncation, deletion), the best chain, work and heights equal a
/// full header pass; a damaged or foreign index is rebuilt, never trusted.
@Suite(.serialized) struct HeaderIndexTests {
    /// A chain in several xor'd files, with stale blocks and a reorganisation.
    final class Chain: @unchecked Sendable {
        static let shared = try! Chain()
        let root: URL
        let blocks: URL
        let summary: TestChainSummary
        init() throws {
            root = try TestPaths.temporaryDirectory("header-index")
            var options = TestChainOptions()
            options.length = .blocks(400)
            options.seed = "header-index"
            options.xor = true
            options.stale = 3
            options.reorg = true
            options.blockWeight = 40_000
            options.maxFileSize = 1 << 20
            summary = try TestChainGenerator.generate(options, out: root.appendingPathComponent("chain").path)
            blocks = root.appendingPathComponent("chain/blocks")
        }
    }

    let chain = Chain.shared

    /// What must not differ between an incremental and a full header pass.
    struct Outcome: Equatable {
        var best: [BlockHash]
        var baseHeight: Int
        var heights: [BlockHash: Int]
        var work: UInt256
        var records: Set<RecordLocation>
        var problems: [String]
        init(_ index: ChainIndex) {
            best = index.bestChain.map { index.entries[$0].hash }
            baseHeight = index.baseHeight
            var heights: [BlockHash: Int] = [:]
            for record in index.entries { if let h = record.height { heights[record.hash] = h } }
            self.heights = heights
            work = index.bestWork
            records = Set(index.entries.map(\.location))
            problems = index.problems.map(\.description).sorted()
        }
    }

    func compare(_ live: URL, state: URL, _ note: String) throws -> ChainIndex {
        let directory = try BlocksDirectory(path: live.path, network: .regtest)
        let incremental = try ChainIndex(directory: directory, headerIndex: HeaderIndexStore(stateDirectory: state.path))
        let full = try ChainIndex(directory: directory)
        #expect(Outcome(incremental) == Outcome(full), "\(note): incremental and full header passes differ")
        return incremental
    }

    func files(_ directory: URL, _ prefix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// A blk file rewritten in place (same inode) and grown, its newest record unchanged but its
    /// first one another block now: the index sees the change (it checks both ends of what it
    /// knew) and scans the file again, rather than resuming after the old records.
    @Test func aFileRewrittenInPlaceAndGrownIsScannedAgain() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let live = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        try FileManager.default.copyItem(at: chain.blocks, to: live)
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        _ = try compare(live, state: state, "first look")
        let directory = try BlocksDirectory(path: live.path, network: .regtest)
        let index = try ChainIndex(directory: directory)
        let first = try #require(index.entryRange(ofFile: 0).map { index.entries[$0.lowerBound] })
        // Another block of the same size where the first was: its header's nonce changed until it
        // meets its own (regtest) proof of work.
        let path = live.appendingPathComponent(BlockFileFormat.blockFileName(0)).path
        var header = Array(try Data(contentsOf: URL(fileURLWithPath: path))[first.location.payloadOffset..<(first.location.payloadOffset + BlockHeader.size)])
        directory.xorKey.apply(to: &header, fileOffset: first.location.payloadOffset)
        let bits = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 72, as: UInt32.self) }
        var nonce = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 76, as: UInt32.self) }
        repeat {
            nonce &+= 1
            withUnsafeBytes(of: nonce.littleEndian) { header.replaceSubrange(76..<80, with: $0) }
        } while !ProofOfWork.check(hash: header.withUnsafeBytes { BlockHeader.hash(of: $0.baseAddress!) }, bits: bits)
        let other = header.withUnsafeBytes { BlockHeader.hash(of: $0.baseAddress!) }
        #expect(other != first.hash)
        directory.xorKey.apply(to: &header, fileOffset: first.location.payloadOffset)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try file.seek(toOffset: UInt64(first.location.payloadOffset))
        try file.write(contentsOf: header)
        try file.seekToEnd()
        try file.write(contentsOf: Data(count: 4096))  // grown (reserved zeros), same inode
        try file.close()
        let updated = try compare(live, state: state, "after the rewrite in place")
        #expect(updated.entry(for: other) != nil && updated.entry(for: first.hash) == nil)
    }

    @Test func incrementalEqualsFullUnderEveryChange() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let live = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: chain.blocks, to: live)
        let blkFiles = try files(live, "blk")
        #expect(blkFiles.count >= 3)
        let fullBytes = try blkFiles.map { try Data(contentsOf: chain.blocks.appendingPathComponent($0)) }

        // A directory caught mid-sync: the newest file cut mid-record, later files not there yet.
        for name in blkFiles.dropFirst(2) { try FileManager.default.removeItem(at: live.appendingPathComponent(name)) }
        try fullBytes[1].prefix(fullBytes[1].count / 2).write(to: live.appendingPathComponent(blkFiles[1]))
        var index = try compare(live, state: state, "first pass")
        #expect(index.headerPass.scanned == 2 && index.headerPass.reused == 0)

        // Nothing changed: everything from the index, nothing read.
        index = try compare(live, state: state, "unchanged")
        #expect(index.headerPass.reused == 2 && index.headerPass.scanned == 0 && index.headerPass.bytesScanned == 0)
        #expect(index.isCurrent(for: try BlocksDirectory(path: live.path, network: .regtest)))

        // bitcoind appends (the rest of the file) and starts new files, through the reorganisation.
        try fullBytes[1].write(to: live.appendingPathComponent(blkFiles[1]))
        for (name, bytes) in zip(blkFiles.dropFirst(2), fullBytes.dropFirst(2)) { try bytes.write(to: live.appendingPathComponent(name)) }
        index = try compare(live, state: state, "grown")
        #expect(index.headerPass.resumed == 1 && index.headerPass.reused == 1 && index.headerPass.scanned == blkFiles.count - 2)
        #expect(index.entries[index.bestChain.last!].hash == chain.summary.tipHash)

        // A file truncated (replaced by a shorter one): scanned again, its lost blocks gone.
        try fullBytes[1].prefix(fullBytes[1].count / 3).write(to: live.appendingPathComponent(blkFiles[1]))
        index = try compare(live, state: state, "truncated")
        #expect(index.headerPass.scanned >= 1)

        // Pruning: the oldest file deleted.
        try fullBytes[1].write(to: live.appendingPathComponent(blkFiles[1]))
        try FileManager.default.removeItem(at: live.appendingPathComponent(blkFiles[0]))
        index = try compare(live, state: state, "pruned")
        #expect(index.baseHeight > 0)

        // A damaged index is reported and rebuilt.
        let indexFile = state.appendingPathComponent(HeaderIndexStore.fileName)
        var damaged = [UInt8](try Data(contentsOf: indexFile))
        damaged[HeaderIndexStore.prefixBytes + 10] ^= 0x20  // in the first segment: not a torn append
        try Data(damaged).write(to: indexFile)
        index = try compare(live, state: state, "damaged index")
        #expect(index.notes.contains { $0.contains("is damaged (checksum mismatch at offset") && $0.hasSuffix("rebuilding it") })
        #expect(index.headerPass.reused == 0)
        index = try compare(live, state: state, "rebuilt index")
        #expect(index.headerPass.reused == blkFiles.count - 1)

        // An index of another directory (or network, or xor key) is not trusted.
        let other = root.appendingPathComponent("other")
        try FileManager.default.copyItem(at: live, to: other)
        let otherIndex = try ChainIndex(directory: BlocksDirectory(path: other.path, network: .regtest), headerIndex: HeaderIndexStore(stateDirectory: state.path))
        #expect(otherIndex.notes.contains { $0.contains("indexes another blocks directory") })
        #expect(Outcome(otherIndex) == Outcome(try ChainIndex(directory: BlocksDirectory(path: other.path, network: .regtest))))
    }

    /// A chain stored out of order (as Core stores blocks during its initial download), with
    /// stale blocks and a reorganisation, in several xor'd files.
    final class ShuffledChain: @unchecked Sendable {
        static let shared = try! ShuffledChain()
        let blocks: URL
        /// Every record's location, in file order.
        let records: [RecordLocation]
        init() throws {
            let root = try TestPaths.temporaryDirectory("header-index-shuffled")
            var options = TestChainOptions()
            options.length = .blocks(300)
            options.seed = "header-index-shuffled"
            options.xor = true
            options.stale = 4
            options.reorg = true
            options.shuffleWindow = 8
            options.blockWeight = 40_000
            options.maxFileSize = 1 << 20
            _ = try TestChainGenerator.generate(options, out: root.appendingPathComponent("chain").path)
            blocks = root.appendingPathComponent("chain/blocks")
            let index = try ChainIndex(directory: BlocksDirectory(path: blocks.path, network: .regtest))
            records = index.entries.map(\.location)
        }
    }

    /// An empty blocks directory with `source`'s xor key, a state directory, and its header index.
    func emptyLiveDirectory(in root: URL, keyOf source: ShuffledChain) throws -> (live: URL, state: URL, store: HeaderIndexStore) {
        let live = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source.blocks.appendingPathComponent("xor.dat"), to: live.appendingPathComponent("xor.dat"))
        return (live, state, HeaderIndexStore(stateDirectory: state.path))
    }

    /// One look at `live` as a follow makes it: `index` built on the first, updated in place
    /// after (`updated` says which), with a full header pass of the directory to compare it with.
    func look(at live: URL, store: HeaderIndexStore, index: inout ChainIndex?) throws -> (full: ChainIndex, updated: Bool) {
        let directory = try BlocksDirectory(path: live.path, network: .regtest)
        let full = try ChainIndex(directory: directory)
        guard index != nil else {
            index = try ChainIndex(directory: directory, headerIndex: store)
            return (full, false)
        }
        try index!.update(directory: directory, headerIndex: store)
        return (full, true)
    }

    /// Grows a directory as bitcoind does (appending in place, into pre-allocated zeros too, and
    /// starting new files), a few records at a time, sometimes cut mid-record: after each look
    /// the index updated in place, and one loaded from the appended persistent index, equal a
    /// full header pass; the tree is never rebuilt, and each look reads only what was appended.
    @Test func updatesInPlaceEqualAFullPass() throws {
        let source = ShuffledChain.shared
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (live, state, store) = try emptyLiveDirectory(in: root, keyOf: source)
        var fileData: [Int: Data] = [:]
        var writtenBytes: [Int: Int] = [:]
        func name(_ number: Int) -> String { String(format: "blk%05d.dat", number) }
        func data(_ number: Int) throws -> Data {
            if let cached = fileData[number] { return cached }
            let loaded = try Data(contentsOf: source.blocks.appendingPathComponent(name(number)))
            fileData[number] = loaded
            return loaded
        }
        /// Writes the source's bytes of file `number` up to `end` at their place in the live file.
        func write(_ number: Int, upTo end: Int) throws {
            let url = live.appendingPathComponent(name(number))
            if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            let written = Int(try handle.seekToEnd())
            // Bytes already there are pre-allocated zeros past the written part: overwrite in place.
            let start = min(written, writtenBytes[number] ?? 0)
            try handle.seek(toOffset: UInt64(start))
            try handle.write(contentsOf: try data(number).subdata(in: start..<end))
            writtenBytes[number] = end
        }

        var index: ChainIndex?
        var step = 0, k = 0
        var random = SeededRandom(seed: "grow")
        while k < source.records.count {
            k = min(source.records.count, k + 1 + Int(random.next() % 9))
            let last = source.records[k - 1]
            // Earlier files complete, this one up to the record (or, now and then, half of the next).
            for number in 0..<last.file where (writtenBytes[number] ?? 0) < (try data(number).count) {
                try write(number, upTo: try data(number).count)
            }
            var end = last.offset + 8 + last.size
            let cutMidRecord = step % 5 == 3 && k < source.records.count && source.records[k].file == last.file
            if cutMidRecord { end += (8 + source.records[k].size) / 2 }
            try write(last.file, upTo: end)
            if step % 4 == 1 {
                // Core pre-allocates: zeros past the records, which later records overwrite.
                let handle = try FileHandle(forWritingTo: live.appendingPathComponent(name(last.file)))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(count: 4096))
                try handle.close()
            }
            let (full, updated) = try look(at: live, store: store, index: &index)
            if updated {
                #expect(index!.lastChange == .extended || index!.lastChange == .unchanged, "step \(step): \(index!.lastChange)")
                // Only what was appended is read: at most the last file (and any new one).
                #expect(index!.headerPass.scanned <= 1 && index!.headerPass.resumed <= 1, "step \(step)")
            }
            #expect(Outcome(index!) == Outcome(full), "step \(step): the updated index differs from a full header pass")
            #expect(index!.tip?.hash == full.tip?.hash && index!.notes == full.notes, "step \(step)")
            // The persistent index, appended to at each step, loads to the same and reads nothing.
            let reloaded = try ChainIndex(directory: BlocksDirectory(path: live.path, network: .regtest), headerIndex: store)
            #expect(Outcome(reloaded) == Outcome(full), "step \(step): the reloaded index differs")
            #expect(reloaded.headerPass.bytesScanned == 0 && reloaded.headerPass.scanned == 0, "step \(step)")
            step += 1
        }
        #expect(step > 20)
        #expect(index!.bestChain.count == (try ChainIndex(directory: BlocksDirectory(path: source.blocks.path, network: .regtest))).bestChain.count)

        // A crash while appending leaves a torn last segment: it is dropped, the rest is kept.
        let indexFile = state.appendingPathComponent(HeaderIndexStore.fileName)
        let intact = try Data(contentsOf: indexFile)
        try (intact + Data([0x40, 0x01, 0, 0, 0xAB, 0xCD])).write(to: indexFile)
        let directory = try BlocksDirectory(path: live.path, network: .regtest)
        let afterTear = try ChainIndex(directory: directory, headerIndex: store)
        #expect(afterTear.notes.contains { $0.contains("ended in an incomplete update") })
        #expect(afterTear.headerPass.scanned == 0 && afterTear.headerPass.bytesScanned == 0)
        #expect(Outcome(afterTear) == Outcome(try ChainIndex(directory: directory)))
        #expect(try Data(contentsOf: indexFile) == intact)

        // Pruning deletes the oldest file: the update starts over.
        var pruned = try ChainIndex(directory: directory, headerIndex: store)
        try FileManager.default.removeItem(at: live.appendingPathComponent(name(0)))
        try pruned.update(directory: BlocksDirectory(path: live.path, network: .regtest), headerIndex: store)
        #expect(pruned.lastChange == .built && pruned.baseHeight > 0)
        #expect(Outcome(pruned) == Outcome(try ChainIndex(directory: BlocksDirectory(path: live.path, network: .regtest))))
    }

    /// A pruned directory (its first file gone) that keeps growing: each look equals a full
    /// header pass; looks that only extend the chain are placed in place, the rest (an orphan
    /// whose parent could be a new root) rebuild the tree from memory, never the files.
    @Test func aPrunedDirectoryGrowsInPlace() throws {
        let source = ShuffledChain.shared
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (live, _, store) = try emptyLiveDirectory(in: root, keyOf: source)
        // Files from the second on, the last one written record by record.
        let files = Set(source.records.map(\.file)).sorted()
        #expect(files.count >= 2)
        let lastFile = files.last!
        for number in files.dropFirst().dropLast() {
            let name = String(format: "blk%05d.dat", number)
            try FileManager.default.copyItem(at: source.blocks.appendingPathComponent(name), to: live.appendingPathComponent(name))
        }
        let name = String(format: "blk%05d.dat", lastFile)
        let data = try Data(contentsOf: source.blocks.appendingPathComponent(name))
        let url = live.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var index: ChainIndex?
        var changes: [ChainIndex.Change] = []
        var written = 0
        for record in source.records where record.file == lastFile {
            let end = record.offset + 8 + record.size
            try handle.write(contentsOf: data.subdata(in: written..<end))
            written = end
            let (full, updated) = try look(at: live, store: store, index: &index)
            if updated { changes.append(index!.lastChange) }
            #expect(index!.baseHeight > 0)
            #expect(Outcome(index!) == Outcome(full), "after the record at \(record.offset)")
        }
        #expect(!changes.contains(.built), "a pruned directory that only grows never starts over")
        #expect(changes.contains(.extended) && changes.contains(.rebuiltTree), "both ways of taking new records are exercised")
    }

    /// The index written afresh while the caller goes on (a first start's): once finished, the
    /// same file as one written before `init` returns; `update` waits for it by itself; a write
    /// that fails is reported by `finishIndexWrite`, not lost.
    @Test func anIndexWrittenInTheBackgroundIsTheSameFile() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = try BlocksDirectory(path: chain.blocks.path, network: .regtest)
        let inline = root.appendingPathComponent("inline"), background = root.appendingPathComponent("background")
        for state in [inline, background] { try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true) }
        _ = try ChainIndex(directory: directory, headerIndex: HeaderIndexStore(stateDirectory: inline.path))
        var index = try ChainIndex(directory: directory, headerIndex: HeaderIndexStore(stateDirectory: background.path), writingIndexInBackground: true)
        try index.finishIndexWrite()
        try index.finishIndexWrite()  // nothing left to wait for
        let file = HeaderIndexStore.fileName
        #expect(try Data(contentsOf: background.appendingPathComponent(file)) == Data(contentsOf: inline.appendingPathComponent(file)))

        // Not finished by hand: the next look waits for it, then appends as usual.
        let again = root.appendingPathComponent("again")
        try FileManager.default.createDirectory(at: again, withIntermediateDirectories: true)
        var unfinished = try ChainIndex(directory: directory, headerIndex: HeaderIndexStore(stateDirectory: again.path), writingIndexInBackground: true)
        try unfinished.update(directory: directory, headerIndex: HeaderIndexStore(stateDirectory: again.path))
        #expect(unfinished.lastChange == .unchanged)
        #expect(try Data(contentsOf: again.appendingPathComponent(file)) == Data(contentsOf: inline.appendingPathComponent(file)))

        // A state directory the index cannot be written into.
        let missing = root.appendingPathComponent("missing/state")
        var failing = try ChainIndex(directory: directory, headerIndex: HeaderIndexStore(stateDirectory: missing.path), writingIndexInBackground: true)
        #expect(Outcome(failing) == Outcome(try ChainIndex(directory: directory)))
        #expect(throws: ChainIndexError.self) { try failing.finishIndexWrite() }
    }

    /// An import resumed over a grown directory reads the index, and gives the same state.
    @Test func importsKeepTheIndexInTheStateDirectory() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        let arguments = ["import", "--blocksdir", chain.blocks.path, "--network", "regtest", "--machine", "reference", "--state", state.path, "--quiet"]
        #expect(try runCLI(arguments).status == 0)
        #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent(HeaderIndexStore.fileName).path))
        #expect(try runCLI(arguments).status == 0)
    }
}
