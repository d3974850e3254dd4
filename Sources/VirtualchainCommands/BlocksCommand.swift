import ArgumentParser
import BitcoinWire
import BlockFiles
import BlockReader
import ChainIndex
import Foundation

struct BlocksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocks",
        abstract: "List the best chain of a blocks directory (or, with --all, every record).",
        discussion: """
        Records that are damaged are reported on stderr and skipped; a best-chain block that fails to \
        parse or verify stops the listing with an error naming the file and offset (exit status 1).
        """
    )

    @OptionGroup var source: ChainSourceOptions

    @Flag(help: "List every well-formed record in file order, on the best chain or not.")
    var all = false

    @Flag(help: "One JSON object per line.")
    var json = false

    @Flag(help: "Include txids and wtxids (display hex) of every transaction.")
    var txids = false

    struct Row: Sendable {
        var transactions: Int
        var txids: [Txid]
        var wtxids: [Wtxid]
    }

    func run() throws {
        let (directory, index) = try source.loadIndex(for: Self.self)
        let order = all ? Array(index.entries.indices) : index.bestChain
        let wantIds = txids
        let pass = BlockPass(directory: directory, index: index, options: source.passOptions)
        let out = OutputBuffer()
        do {
            try pass.run(entries: order, transform: { block in
                Row(transactions: block.view.transactions.count,
                    txids: wantIds ? block.view.transactions.map { $0.txid() } : [],
                    wtxids: wantIds ? block.view.transactions.map { $0.wtxid() } : [])
            }, consume: { entry, row in
                try out.line(try format(entry: entry, row: row, index: index))
            })
            try out.finish()
        } catch {
            try? out.flush()
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
    }

    func format(entry: EntryIndex, row: Row, index: ChainIndex) throws -> String {
        let record = index.entries[entry]
        let height = record.height
        let stale = index.isStale(entry)
        let file = BlockFileFormat.blockFileName(record.location.file)
        if json {
            return try JSONOutput.line(BlockJSON(height: height, hash: record.hash.displayHex, prev: record.parent.displayHex,
                                                 txs: row.transactions, size: record.location.size, file: file, offset: record.location.offset,
                                                 stale: stale, txids: txids ? row.txids.map(\.displayHex) : nil,
                                                 wtxids: txids ? row.wtxids.map(\.displayHex) : nil))
        }
        var text = "\(height.map(String.init) ?? "-")\t\(record.hash.displayHex)\t\(row.transactions) txs\t\(record.location.size) bytes\t\(file):\(record.location.offset)"
        if stale { text += "\tstale" }
        if txids { text += "\n" + zip(row.txids, row.wtxids).map { "\ttxid \($0.displayHex) wtxid \($1.displayHex)" }.joined(separator: "\n") }
        return text
    }
}
