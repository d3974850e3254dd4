import BitcoinWire
import BlockFiles
import ChainIndex
import Foundation

/// A block's undo record is not in the newest rev file yet: bitcoind writes it when it connects
/// the block, after storing the block. Not damage; a later look finds it.
public struct UndoNotYetWritten: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var block: BlockHash
    public var height: Int
    public var description: String {
        "\(path): the undo record of block \(block) at height \(height) is not written yet (this is the rev file bitcoind is appending to); the state is kept at the block before"
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
/// Made for one replay over `positions` (best-chain entries of `index`); `spentCoins(for:)` is
/// called from the block pass's workers.
public final class SenderResolver: Sendable {
    public let directory: BlocksDirectory
    let undo: UndoFiles
    /// Blk files of the replay that have no rev file.
    public let filesWithoutUndo: Set<Int>
    /// Previous outputs found by the fallback pass (empty when every file has undo data).
    public let previousOutputs: [OutPoint: TxOut]

    /// Whether some senders come from the fallback pass rather than undo files.
    public var usesFallbackPass: Bool { !filesWithoutUndo.isEmpty }

    /// Prepares the replay of `positions`: where blk files lack undo data, runs the fallback pass
    /// (one pass to find the outpoints the candidates spend, a second over the chain up to them
    /// to collect those outputs).
    public init(directory: BlocksDirectory, index: ChainIndex, positions: [Int], filter: OperationFilter,
                passOptions: BlockPassOptions) throws {
        self.directory = directory
        let undo = UndoFiles(directory: directory)
        self.undo = undo
        filesWithoutUndo = Set(positions.map { index.entries[$0].location.file }).filter { !undo.hasUndoFile($0) }
        previousOutputs = filesWithoutUndo.isEmpty ? [:]
            : try Self.collectPreviousOutputs(directory: directory, index: index, positions: positions, filesWithoutUndo: filesWithoutUndo,
                                              filter: filter, passOptions: passOptions)
    }

    /// The spent coins of every non-coinbase transaction of `block` from its undo record; nil
    /// for a block in a file without undo data (its senders come from `previousOutputs`).
    /// Throws ``UndoNotYetWritten`` where bitcoind has not written the record yet, and
    /// ``SenderResolutionError`` where no record fits.
    public func spentCoins(for block: ParsedBlock) throws -> [[SpentCoin]]? {
        guard !filesWithoutUndo.contains(block.location.file) else { return nil }
        let view = block.view
        let found = try undo.findRecord(blockFile: block.location.file, previousBlockHash: view.header.previousBlockHash,
                                        transactionCount: view.transactions.count) { data throws(WireError) -> [[SpentCoin]]? in
            let coins = try UndoFormat.decodeBlockUndo(data)
            return Self.fits(coins, view) ? coins : nil
        }
        if let found { return found }
        let path = directory.undoFilePath(block.location.file)
        if undo.isBeingWritten(block.location.file) {
            throw UndoNotYetWritten(path: path, block: block.hash, height: block.height ?? -1)
        }
        throw SenderResolutionError.noUndoRecordFits(path: path, block: block.hash, height: block.height ?? -1)
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

    private static func collectPreviousOutputs(directory: BlocksDirectory, index: ChainIndex, positions: [Int], filesWithoutUndo: Set<Int>,
                                               filter: OperationFilter, passOptions: BlockPassOptions) throws -> [OutPoint: TxOut] {
        var needed = Set<OutPoint>()
        var highest = -1
        let pass = BlockPass(directory: directory, index: index, options: passOptions)
        let affected = positions.filter { filesWithoutUndo.contains(index.entries[$0].location.file) }
        try pass.run(records: affected, transform: { block -> [OutPoint] in
            var outpoints: [OutPoint] = []
            for (vtxindex, tx) in block.view.transactions.enumerated() where vtxindex > 0 {
                guard filter.operation(in: tx) != nil else { continue }
                outpoints += tx.inputs().map { OutPoint(txid: $0.previousTxid, index: $0.previousIndex) }
            }
            return outpoints
        }, consume: { position, outpoints in
            if !outpoints.isEmpty {
                needed.formUnion(outpoints)
                highest = max(highest, index.entries[position].height!)
            }
        })
        guard highest >= 0 else { return [:] }
        let wanted = Set(needed.map(\.txid))
        let chain = Array(index.bestChain.prefix(highest - index.baseHeight + 1))
        var found: [OutPoint: TxOut] = [:]
        try pass.run(records: chain, transform: { block -> [(Txid, [TxOut])] in
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
