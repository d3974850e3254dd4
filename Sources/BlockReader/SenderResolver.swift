import BitcoinWire
import BlockFiles
import ChainIndex
import Foundation

/// A record bitcoind has not finished writing, in the files it is writing to: not damage; a
/// later look finds it. Either a block's undo record, which bitcoind appends to the rev file
/// when it *connects* the block (which can be long after it stored it: headers-first download
/// stores blocks out of order), or a block record written only in part into the space bitcoind
/// reserved with zeros ahead of its writes.
public struct NotYetWritten: Error, CustomStringConvertible, Sendable {
    public enum Record: Sendable { case undo, block }
    public var record: Record
    public var path: String
    public var block: BlockHash
    public var height: Int

    public init(record: Record, path: String, block: BlockHash, height: Int) {
        self.record = record
        self.path = path
        self.block = block
        self.height = height
    }

    public var description: String {
        switch record {
        case .undo:
            "\(path): the undo record of block \(block) at height \(height) is not written yet (bitcoind writes it when it connects the block); the state is kept at the block before"
        case .block:
            "\(path): block \(block) at height \(height) is only partly written yet (the rest of its record is still zeros); the state is kept at the block before"
        }
    }
}

/// Why the senders of a best-chain block's candidates cannot be known.
public enum SenderResolutionError: Error, CustomStringConvertible, Sendable {
    /// Core writes undo data for every block it connects: none fitting a best-chain block means
    /// damage, and guessing senders would let a state diverge.
    case noUndoRecordFits(path: String, block: BlockHash, height: Int)

    public var description: String {
        switch self {
        case let .noUndoRecordFits(path, block, height):
            "\(path): no undo record fits block \(block) at height \(height) (damaged); the state is kept at the block before"
        }
    }
}

/// Finds the outputs that candidate transactions spent (their senders): from Bitcoin Core's undo
/// files (`rev*.dat`), or, for blk files without one, from previous outputs collected by an extra
/// pass over the chain (`previousOutputs`).
///
/// Made for one replay over `entries` (best-chain entries of `index`); `spentCoins(for:)` is
/// called from the block pass's workers.
public final class SenderResolver: Sendable {
    public let directory: BlocksDirectory
    let undo: UndoFiles
    /// Blk files of the replay that have no rev file.
    public let filesWithoutUndo: Set<Int>
    /// Previous outputs found by the fallback pass (empty when every file has undo data).
    public let previousOutputs: [OutPoint: TxOut]
    /// Which transactions are candidates (only their spent coins are decoded).
    let filter: OperationFilter
    /// For each height replayed (from `firstHeight`), the position its block's undo record should
    /// have in its rev file: the block's rank by height among its file's best-chain blocks (-1
    /// where unknown). Sized by the replay, not the chain: a follow poll pays for its new blocks.
    let expectedUndoPosition: [Int32]
    let firstHeight: Int
    /// Per blk file of the replay, its blocks off the best chain: bitcoind may have connected
    /// them (a branch that later lost), so their undo records may sit among the best chain's.
    let offChainBlocks: [Int: Int]
    /// Per blk file of the replay, the parents of its blocks off the best chain. An undo record's
    /// checksum names the block's parent, and Core writes a block's record into the rev file of
    /// its blk file: a record whose checksum names a parent no other block of the file has is the
    /// block's own, and need not be matched against the block coin by coin.
    let contestedParents: [Int: Set<BlockHash>]

    /// Whether some senders come from the fallback pass rather than undo files.
    public var usesFallbackPass: Bool { !filesWithoutUndo.isEmpty }

    /// Prepares the replay of `entries`: where blk files lack undo data, runs the fallback pass
    /// (one pass to find the outpoints the candidates spend, a second over the chain up to them
    /// to collect those outputs).
    public init(directory: BlocksDirectory, index: ChainIndex, entries: [EntryIndex], filter: OperationFilter,
                passOptions: BlockPassOptions) throws {
        self.directory = directory
        self.filter = filter
        let undo = UndoFiles(directory: directory)
        self.undo = undo
        let files = Set(entries.map { index.entries[$0].location.file })
        // A directory with undo data is bitcoind's: a rev file missing there is one it has not
        // started yet (it writes undo records when it connects blocks), and its blocks' records
        // are "not yet written". Only a directory without any (blk files copied alone) needs the
        // fallback pass.
        let hasUndoData = directory.blockFiles.contains { undo.hasUndoFile($0) }
        filesWithoutUndo = hasUndoData ? [] : files.filter { !undo.hasUndoFile($0) }
        let heights = entries.compactMap { index.entries[$0].height }
        firstHeight = heights.min() ?? 0
        expectedUndoPosition = Self.undoRanks(index: index, files: files.subtracting(filesWithoutUndo),
                                              heights: firstHeight..<((heights.max() ?? -1) + 1))
        var offChain: [Int: Int] = [:]
        var contested: [Int: Set<BlockHash>] = [:]
        for file in files {
            for entry in index.entryRange(ofFile: file) ?? EntryIndex(0)..<EntryIndex(0) where index.entries[entry].status != .best {
                offChain[file, default: 0] += 1
                contested[file, default: []].insert(index.entries[entry].parent)
            }
        }
        offChainBlocks = offChain
        contestedParents = contested
        previousOutputs = filesWithoutUndo.isEmpty ? [:]
            : try Self.collectPreviousOutputs(directory: directory, index: index, entries: entries, filesWithoutUndo: filesWithoutUndo,
                                              filter: filter, passOptions: passOptions)
    }

    /// The coins the candidate transactions of `block` spent, from its undo record; nil for a
    /// block in a file without undo data (its senders come from `previousOutputs`). Throws
    /// ``NotYetWritten`` where bitcoind has not written the record yet, and
    /// ``SenderResolutionError`` where no record fits.
    ///
    /// Only the candidates' coins are decoded. Where a sibling in the blk file shares the block's
    /// parent, the rest of the record is walked without allocating, to check that it fits the
    /// block (see ``fits(_:_:)``); elsewhere the checksum alone identifies the record, and it is
    /// read only as far as the last candidate.
    public func spentCoins(for block: ParsedBlock) throws -> SpentCoins? {
        guard !filesWithoutUndo.contains(block.location.file) else { return nil }
        let view = block.view
        var wanted: [Int] = []
        for (vtxindex, tx) in view.transactions.enumerated() where vtxindex > 0 && filter.operation(in: tx) != nil {
            wanted.append(vtxindex)
        }
        let identified = checksumIdentifiesRecord(of: block)
        let found = try findRecord(of: block) { data throws(WireError) -> SpentCoins? in
            try Self.decode(data, ifItFits: view, keeping: wanted, identified: identified)
        }
        if let found { return found }
        let path = directory.undoFilePath(block.location.file)
        // bitcoind appends a block's undo record to the rev file numbered like its blk file when
        // it connects the block, which may be long after it stored it (headers-first download
        // stores blocks ahead, across files): the record may be cut short, or not started at
        // all, the file ending (cleanly, or in the zeros bitcoind reserved) before the place it
        // will take. More records than could come before it (the best chain's below it, and any
        // of the file's blocks off the best chain) would mean bitcoind connected later blocks,
        // and so this one: its record is then damaged.
        let file = block.location.file
        let written = try undo.finishedRecordCount(file)
        if undo.isBeingWritten(file) || written <= expectedPosition(of: block) + offChainBlocks[file, default: 0] {
            throw NotYetWritten(record: .undo, path: path, block: block.hash, height: block.height ?? -1)
        }
        throw SenderResolutionError.noUndoRecordFits(path: path, block: block.hash, height: block.height ?? -1)
    }

    /// The coins every non-coinbase transaction of `block` spent (all of its undo record,
    /// decoded), or nil for a file without undo data: for tools and cross-checks; the replay
    /// decodes only its candidates' coins.
    public func allSpentCoins(for block: ParsedBlock) throws -> [[SpentCoin]]? {
        guard !filesWithoutUndo.contains(block.location.file) else { return nil }
        let view = block.view
        return try findRecord(of: block) { data throws(WireError) -> [[SpentCoin]]? in
            let coins = try UndoFormat.decodeBlockUndo(data)
            return Self.fits(coins, view) ? coins : nil
        }
    }

    /// Whether a record whose checksum names `block`'s parent can only be `block`'s: no other
    /// block of its blk file (off the best chain, or a second copy of it) has that parent.
    func checksumIdentifiesRecord(of block: ParsedBlock) -> Bool {
        contestedParents[block.location.file]?.contains(block.view.header.previousBlockHash) != true
    }

    /// Where `block`'s undo record should be among its rev file's records (0 where unknown).
    private func expectedPosition(of block: ParsedBlock) -> Int {
        let slot = (block.height ?? -1) - firstHeight
        return expectedUndoPosition.indices.contains(slot) ? max(0, Int(expectedUndoPosition[slot])) : 0
    }

    /// The undo record of `block` that `accept` takes, sought from where it should be.
    private func findRecord<T>(of block: ParsedBlock, accept: (UnsafeRawBufferPointer) throws(WireError) -> T?) throws(BlockFileError) -> T? {
        try undo.findRecord(blockFile: block.location.file, previousBlockHash: block.view.header.previousBlockHash,
                            transactionCount: block.view.transactions.count, expectedPosition: expectedPosition(of: block), accept: accept)
    }

    /// The coins of transactions `wanted` (vtxindexes, ascending) from a `CBlockUndo`, if the
    /// record fits `block` (as ``fits(_:_:)`` says); nil if it does not. Coins of other
    /// transactions are read past without decoding their scripts.
    ///
    /// `identified`: the record is already known to be the block's (its checksum names the
    /// block's parent, which no other block of the blk file has). Then only the wanted
    /// transactions are matched (coin count, spent values): the others' coins are counted and
    /// read past, amounts undecoded, and nothing after the last wanted one is read.
    public static func decode(_ data: UnsafeRawBufferPointer, ifItFits block: BlockView, keeping wanted: [Int],
                              identified: Bool = false) throws(WireError) -> SpentCoins? {
        var cursor = ByteCursor(data)
        let transactions = try cursor.readCount(of: "transaction undo", minItemSize: 1)
        guard transactions == block.transactions.count - 1 else { return nil }
        var kept: [Int: [SpentCoin]] = [:]
        var next = 0  // index into `wanted`
        for vtxindex in stride(from: 1, through: transactions, by: 1) {
            if identified && next == wanted.count { return SpentCoins(byTransaction: kept) }
            let tx = block.transactions[vtxindex]
            let count = try cursor.readCount(of: "spent coin", minItemSize: 3)
            guard count == tx.inputCount else { return nil }
            if identified && wanted[next] != vtxindex {  // (identified: next < wanted.count here)
                for _ in 0..<count { try UndoFormat.passCoin(from: &cursor) }
                continue
            }
            var total: Int64 = 0
            if next < wanted.count && wanted[next] == vtxindex {
                next += 1
                var coins: [SpentCoin] = []
                coins.reserveCapacity(count)
                for _ in 0..<count {
                    let coin = try UndoFormat.readCoin(from: &cursor)
                    guard let sum = Money.add(total, coin.output.value) else { return nil }
                    total = sum
                    coins.append(coin)
                }
                kept[vtxindex] = coins
            } else {
                for _ in 0..<count {
                    guard let sum = Money.add(total, try UndoFormat.skipCoin(from: &cursor)) else { return nil }
                    total = sum
                }
            }
            // Core's CheckTxInputs: no transaction spends less than it pays.
            guard total >= tx.outputValue else { return nil }
        }
        if !cursor.isAtEnd { throw WireError(.invalid("\(cursor.remaining) trailing bytes after the undo data"), at: cursor.position) }
        return SpentCoins(byTransaction: kept)
    }

    /// For the best-chain blocks of `files` at `heights`, their rank by height among the
    /// best-chain blocks of the same blk file (indexed by height from `heights.lowerBound`):
    /// where Core, which appends undo records as it connects blocks, put their records. This
    /// costs the files' entries, not the chain's.
    static func undoRanks(index: ChainIndex, files: Set<Int>, heights: Range<Int>) -> [Int32] {
        var ranks = [Int32](repeating: -1, count: heights.count)
        let entries = index.entries
        for file in files {
            var best: [Int] = []  // heights
            for entry in index.entryRange(ofFile: file) ?? EntryIndex(0)..<EntryIndex(0) {
                if entries[entry].status == .best, let height = entries[entry].height { best.append(height) }
            }
            best.sort()
            for (rank, height) in best.enumerated() where heights.contains(height) {
                ranks[height - heights.lowerBound] = Int32(clamping: rank)
            }
        }
        return ranks
    }

    /// Whether an undo record's coins can be `block`'s: one spent coin per input of every
    /// non-coinbase transaction, spent values within the money range, and no transaction
    /// spending less than it pays (Core's `CheckTxInputs`).
    public static func fits(_ coins: [[SpentCoin]], _ block: BlockView) -> Bool {
        // One entry per non-coinbase transaction (a caller need not have matched the count).
        guard coins.count == block.transactions.count - 1 else { return false }
        for (i, tx) in block.transactions.dropFirst().enumerated() {
            guard coins[i].count == tx.inputCount else { return false }
            guard let spent = Money.sum(coins[i].lazy.map(\.output.value)), spent >= tx.outputValue else { return false }
        }
        return true
    }

    private static func collectPreviousOutputs(directory: BlocksDirectory, index: ChainIndex, entries: [EntryIndex], filesWithoutUndo: Set<Int>,
                                               filter: OperationFilter, passOptions: BlockPassOptions) throws -> [OutPoint: TxOut] {
        var needed = Set<OutPoint>()
        var highest = -1
        let pass = BlockPass(directory: directory, index: index, options: passOptions)
        let affected = entries.filter { filesWithoutUndo.contains(index.entries[$0].location.file) }
        try pass.run(entries: affected, transform: { block -> [OutPoint] in
            var outpoints: [OutPoint] = []
            for (vtxindex, tx) in block.view.transactions.enumerated() where vtxindex > 0 {
                guard filter.operation(in: tx) != nil else { continue }
                outpoints += tx.inputs().map { OutPoint(txid: $0.previousTxid, index: $0.previousIndex) }
            }
            return outpoints
        }, consume: { entry, outpoints in
            if !outpoints.isEmpty {
                needed.formUnion(outpoints)
                highest = max(highest, index.entries[entry].height!)
            }
        })
        guard highest >= 0 else { return [:] }
        let wanted = Set(needed.map(\.txid))
        let chain = Array(index.bestChain.prefix(highest - index.baseHeight + 1))
        var found: [OutPoint: TxOut] = [:]
        try pass.run(entries: chain, transform: { block -> [(Txid, [TxOut])] in
            var hits: [(Txid, [TxOut])] = []
            for tx in block.view.transactions {
                let txid = tx.txid()
                if wanted.contains(txid) {
                    hits.append((txid, tx.outputs().map { TxOut(value: $0.value, scriptPubKey: Array($0.scriptPubKey)) }))
                }
            }
            return hits
        }, consume: { _, hits in
            for (txid, outputs) in hits {
                for (i, output) in outputs.enumerated() where needed.contains(OutPoint(txid: txid, index: UInt32(i))) {
                    found[OutPoint(txid: txid, index: UInt32(i))] = output
                }
            }
        })
        return found
    }
}
