import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex
@testable import TestChain

/// An undo record is matched to its block by its checksum (which names the block's parent) and,
/// where a sibling in the same blk file shares that parent, coin by coin. A record the checksum
/// alone identifies is read only as far as the candidates need.
@Suite struct SenderResolverTests {
    /// A chain with stale branches and a reorganisation in one blk file (siblings share parents).
    func chainWithSiblings(at root: URL) throws -> (directory: BlocksDirectory, index: ChainIndex) {
        var options = TestChainOptions()
        options.length = .blocks(120)
        options.seed = "siblings"
        options.stale = 3
        options.reorg = true
        options.blockWeight = 40_000
        _ = try TestChainGenerator.generate(options, out: root.path)
        let directory = try BlocksDirectory(path: root.appendingPathComponent("blocks").path, network: .regtest)
        return (directory, try ChainIndex(directory: directory))
    }

    func parsed<T>(_ entry: EntryIndex, of index: ChainIndex, in directory: BlocksDirectory, _ body: (ParsedBlock) throws -> T) throws -> T {
        let record = index.entries[entry]
        let bytes = try directory.blockBytes(at: record.location)
        return try bytes.withUnsafeBytes { raw in
            try body(ParsedBlock(height: record.height, hash: record.hash, location: record.location, view: try BlockView.parse(raw),
                                 path: directory.blockFilePath(record.location.file), txids: nil))
        }
    }

    @Test func onlyAParentNoOtherBlockOfTheFileHasIdentifiesARecord() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (directory, index) = try chainWithSiblings(at: root)
        let filter = OperationFilter(magic: Array("id".utf8))
        let best = (1...(index.tipHeight ?? 0)).compactMap { index.entryIndex(atHeight: $0) }
        let resolver = try SenderResolver(directory: directory, index: index, entries: best, filter: filter, passOptions: BlockPassOptions(threads: 1))
        var contested = 0, identified = 0, compared = 0
        for entry in best {
            let record = index.entries[entry]
            // Independently of the resolver: a block of the same file, off the best chain, with the same parent.
            let sibling = index.entries.contains { other in
                other.location.file == record.location.file && other.status != .best && other.parent == record.parent
            }
            try parsed(entry, of: index, in: directory) { block in
                #expect(resolver.checksumIdentifiesRecord(of: block) == !sibling, "block at height \(record.height ?? -1)")
                if sibling { contested += 1 } else { identified += 1 }
                // Either way, the candidates' coins are those of the whole record, decoded.
                guard filter.matchesAny(in: block.view), let all = try resolver.allSpentCoins(for: block) else { return }
                let coins = try #require(try resolver.spentCoins(for: block))
                for (vtxindex, tx) in block.view.transactions.enumerated() where vtxindex > 0 && filter.operation(in: tx) != nil {
                    #expect(coins[vtxindex] == all[vtxindex - 1])
                    compared += 1
                }
            }
        }
        #expect(contested > 0, "the chain needs a best-chain block with a sibling in its file")
        #expect(identified > contested)
        #expect(compared > 0)
    }

    @Test func anIdentifiedRecordIsReadOnlyAsFarAsTheLastWantedTransaction() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (directory, index) = try chainWithSiblings(at: root)
        let best = (1...(index.tipHeight ?? 0)).compactMap { index.entryIndex(atHeight: $0) }
        let resolver = try SenderResolver(directory: directory, index: index, entries: best, filter: OperationFilter(magic: Array("id".utf8)),
                                          passOptions: BlockPassOptions(threads: 1))
        // A block with at least four transactions that spend coins.
        var tested = false
        for entry in best.reversed() where !tested {
            try parsed(entry, of: index, in: directory) { block in
                guard block.view.transactions.count >= 5, let all = try resolver.allSpentCoins(for: block) else { return }
                tested = true
                /// The record of `coins` (as Core encodes it), its first `last` transactions, then `tail`.
                func record(_ coins: [[SpentCoin]], through last: Int, then tail: [UInt8] = []) -> [UInt8] {
                    var writer = ByteWriter(capacity: 4096)
                    writer.writeCompactSize(coins.count)
                    for spent in coins.prefix(last) {
                        writer.writeCompactSize(spent.count)
                        for c in spent { UndoFormat.writeCoin(c.output, height: c.height, isCoinbase: c.isCoinbase, to: &writer) }
                    }
                    return writer.bytes + tail
                }
                let whole = record(all, through: all.count)
                for wanted in [[1], [2], [1, 3], [all.count]] {
                    let full = try whole.withUnsafeBytes { try SenderResolver.decode($0, ifItFits: block.view, keeping: wanted) }
                    let lazy = try whole.withUnsafeBytes { try SenderResolver.decode($0, ifItFits: block.view, keeping: wanted, identified: true) }
                    for vtxindex in wanted {
                        #expect(full?[vtxindex] == all[vtxindex - 1])
                        #expect(lazy?[vtxindex] == all[vtxindex - 1])
                    }
                    // What follows the last wanted transaction is not read when the record is
                    // identified, and refused when it is matched coin by coin.
                    let last = wanted.max()!
                    guard last < all.count else { continue }
                    let cut = record(all, through: last, then: [UInt8](repeating: 0xff, count: 16))
                    let cutLazy = try cut.withUnsafeBytes { try SenderResolver.decode($0, ifItFits: block.view, keeping: wanted, identified: true) }
                    #expect(cutLazy?[last] == all[last - 1])
                    #expect(throws: WireError.self) { try cut.withUnsafeBytes { try SenderResolver.decode($0, ifItFits: block.view, keeping: wanted) } }
                }
                // A wanted transaction whose coins do not match it is refused, identified or not.
                var wrong = all
                wrong[1].removeLast()
                let mismatched = try record(wrong, through: wrong.count).withUnsafeBytes {
                    try SenderResolver.decode($0, ifItFits: block.view, keeping: [2], identified: true)
                }
                #expect(mismatched == nil)
            }
        }
        #expect(tested, "the chain needs a block with five transactions")
    }
}
