import BitcoinWire
import BlockFiles
import ChainIndex
import Foundation

/// A candidate whose values Core would never accept, located in the blk files.
public struct CandidateReaderError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var offset: Int
    public var block: BlockHash
    public var height: Int
    public var underlying: CandidateValueError
    public var description: String {
        "\(path) at offset \(offset): block \(block) at height \(height): \(underlying); the state is kept at the block before"
    }
}

/// The reader side of a replay: best-chain blocks in, each block's candidate operations with
/// their senders out, in height order.
///
/// Blocks are parsed (and verified) on the block pass's workers; a block without a transaction
/// the filter matches costs no more than that. Senders come from a ``SenderResolver``.
public final class CandidateReader {
    public let directory: BlocksDirectory
    public let index: ChainIndex
    /// The entries replayed, in order.
    public let entries: [EntryIndex]
    public let filter: OperationFilter
    public let senders: SenderResolver
    /// Whether candidates carry their inputs' witness data (and blocks with candidates have
    /// their witness commitment checked).
    public let withWitness: Bool
    let pass: BlockPass

    /// Prepares reading `entries` (of `index`, in the order wanted); runs the fallback
    /// pass of ``SenderResolver`` where undo files are missing.
    ///
    /// `withWitness`: whether the machine reads witness data. Witness bytes reach a machine only
    /// through candidates (their inputs' witnesses): with it, the witness commitment is checked
    /// in blocks that have a candidate; without it, candidates carry no witness data and no
    /// commitment protects anything the machine sees, so none is checked (the merkle root, which
    /// covers every byte a machine is given, is checked either way).
    public init(directory: BlocksDirectory, index: ChainIndex, entries: [EntryIndex], filter: OperationFilter, withWitness: Bool = true,
                passOptions: BlockPassOptions = BlockPassOptions()) throws {
        self.directory = directory
        self.index = index
        self.entries = entries
        self.filter = filter
        self.withWitness = withWitness
        senders = try SenderResolver(directory: directory, index: index, entries: entries, filter: filter, passOptions: passOptions)
        var options = passOptions
        // Rev files are read ahead once candidates have needed undo data: a replay of blocks
        // without any (the reference machine on this chain) reads none.
        let undo = senders.undo
        options.undoWanted = { undo.isInUse }
        options.witnessCommitmentNeeded = { @Sendable view in withWitness && filter.matchesAny(in: view) }
        // The consumer applies blocks one after the other: where it, not parsing, sets the pace,
        // workers that woke up must not take its core.
        if options.workerNice == nil { options.workerNice = BlockPassOptions.replayWorkerNice }
        pass = BlockPass(directory: directory, index: index, options: options)
    }

    /// Hands each block's candidates (often none) to `consume`, in order, on the calling thread.
    /// Throws `BlockPassError`, ``NotYetWritten``, ``SenderResolutionError``,
    /// ``CandidateReaderError`` and what `consume` throws; blocks before the failing one have
    /// been consumed.
    public func run(consume: (_ entry: EntryIndex, _ candidates: [Candidate]) throws -> Void) throws {
        let filter = filter, senders = senders, withWitness = withWitness
        try pass.run(entries: entries, transform: { block -> [Candidate] in
            guard filter.matchesAny(in: block.view) else { return [] }
            let spent = try senders.spentCoins(for: block)
            let height = block.height ?? -1
            do {
                return try CandidateExtraction.candidates(in: block.view, height: height, hash: block.hash, filter: filter, txids: block.txids, withWitness: withWitness,
                                                          spent: spent, fallback: senders.previousOutputs)
            } catch let error as CandidateValueError {
                throw CandidateReaderError(path: block.path, offset: block.location.payloadOffset + error.blockOffset,
                                           block: block.hash, height: height, underlying: error)
            }
        }, consume: consume)
    }
}
