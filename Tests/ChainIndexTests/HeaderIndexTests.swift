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
            for (i, record) in index.entries.enumerated() { if let h = index.entries[i].height { heights[record.hash] = h } }
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
        damaged[damaged.count / 2] ^= 0x20
        try Data(damaged).write(to: indexFile)
        index = try compare(live, state: state, "damaged index")
        #expect(index.notes.contains { $0.contains("is damaged (checksum mismatch); rebuilding it") })
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
