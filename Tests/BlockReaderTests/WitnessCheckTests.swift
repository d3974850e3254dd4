import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex
@testable import TestChain

/// The candidate reader checks a block's witness commitment where the block has candidates (the
/// only witness bytes a machine sees are its candidates' inputs); elsewhere the merkle root
/// already commits to every byte it reads. A plain block pass checks it everywhere.
@Suite struct WitnessCheckTests {
    /// A chain whose blocks carry segwit transactions, one witness byte flipped in the block at
    /// `height`; the corrupted block's hash and whether it holds an `id` operation.
    func corruptedChain(at root: URL) throws -> (directory: BlocksDirectory, index: ChainIndex, candidates: Set<Int>, corrupted: Set<Int>) {
        var options = TestChainOptions()
        options.length = .blocks(250)
        options.seed = "witness-check"
        options.blockWeight = 40_000
        _ = try TestChainGenerator.generate(options, out: root.path)
        let blocksPath = root.appendingPathComponent("blocks").path
        let directory = try BlocksDirectory(path: blocksPath, network: .regtest)
        let index = try ChainIndex(directory: directory)
        let filter = OperationFilter(magic: Array("id".utf8))
        var candidates: Set<Int> = [], corrupted: Set<Int> = []
        var withCandidate = false, withoutCandidate = false
        for height in 1...(index.tipHeight ?? 0) where !(withCandidate && withoutCandidate) {
            let entry = try #require(index.entry(atHeight: height))
            let bytes = try directory.blockBytes(at: entry.location)
            // The file offset of the first witness byte of the block's first segwit transaction.
            let witnessOffset = try bytes.withUnsafeBytes { raw -> (Int, Bool)? in
                let view = try BlockView.parse(raw)
                let matches = filter.matchesAny(in: view)
                if matches ? withCandidate : withoutCandidate { return nil }
                for tx in view.transactions.dropFirst() where tx.hasWitness {
                    guard let item = tx.witnesses().first(where: { !$0.isEmpty })?.first(where: { $0.count > 0 }) else { continue }
                    return (entry.location.payloadOffset + (item.baseAddress! - raw.baseAddress!), matches)
                }
                return nil
            }
            guard let (offset, matches) = witnessOffset else { continue }
            let path = directory.blockFilePath(entry.location.file)
            var file = try Data(contentsOf: URL(fileURLWithPath: path))
            file[offset] ^= 0x01
            try file.write(to: URL(fileURLWithPath: path))
            corrupted.insert(height)
            if matches { candidates.insert(height); withCandidate = true } else { withoutCandidate = true }
        }
        #expect(withCandidate && withoutCandidate, "the chain needs segwit blocks with and without an operation")
        return (directory, index, candidates, corrupted)
    }

    @Test func commitmentCheckedWhereWitnessBytesMatter() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (directory, index, candidates, corrupted) = try corruptedChain(at: root)
        let quiet = try #require(corrupted.subtracting(candidates).first)
        let loud = try #require(candidates.first)

        // Reading the block without candidates: its damaged witness reaches nothing, no error.
        func read(_ height: Int) throws {
            let positions = [index.entryIndex(atHeight: height)!]
            let reader = try CandidateReader(directory: directory, index: index, entries: positions,
                                             filter: OperationFilter(magic: Array("id".utf8)))
            try reader.run { _, _ in }
        }
        try read(quiet)
        // The block with candidates: the commitment is checked, and the damage reported.
        #expect(throws: BlockPassError.self) { try read(loud) }
        do {
            try read(loud)
        } catch {
            #expect("\(error)".contains("bad-witness-merkle-match"), "\(error)")
        }
        // A reader for a machine that reads no witness data (names): its candidates carry none,
        // so the damaged witness reaches nothing either, and no commitment is checked.
        let blind = try CandidateReader(directory: directory, index: index, entries: [index.entryIndex(atHeight: loud)!],
                                        filter: OperationFilter(magic: Array("id".utf8)), withWitness: false)
        var handed: [[TxIn]] = []
        try blind.run { _, candidates in handed += candidates.map(\.inputs) }
        #expect(!handed.isEmpty && handed.allSatisfy { $0.allSatisfy(\.witness.isEmpty) })
        // With witness data, the undamaged blocks' candidates carry it where it exists.
        let undamaged = try #require((1...(index.tipHeight ?? 0)).first { !corrupted.contains($0) && $0 > 100 })
        let seeing = try CandidateReader(directory: directory, index: index, entries: Array(index.bestChain.suffix(from: undamaged)).filter {
            !corrupted.contains(index.entries[$0].height ?? -1) }, filter: OperationFilter(magic: Array("id".utf8)))
        var witnessed = 0
        try seeing.run { _, candidates in witnessed += candidates.filter { $0.inputs.contains { !$0.witness.isEmpty } }.count }
        #expect(witnessed > 0)
        // A plain block pass checks every block: the first damaged one stops it.
        let pass = BlockPass(directory: directory, index: index)
        #expect(throws: BlockPassError.self) {
            try pass.run(entries: index.bestChain, transform: { _ in 0 }, consume: { _, _ in })
        }
    }
}
