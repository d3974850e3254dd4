import ArgumentParser
import BitcoinWire
import BlockFiles
import BlockReader
import ChainIndex
import Foundation

struct OpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "List the operations carrying a magic prefix (docs/virtualchain.md, section 2), one JSON object per line."
    )

    @OptionGroup var source: ChainSourceOptions

    @Option(help: "Magic prefix as ASCII (id) or hex (0x6964).")
    var magic: String

    @Flag(help: "Scan every record in file order, not just the best chain.")
    var all = false

    struct Operation: Sendable {
        var txid: Txid
        var vtxindex: Int
        var opcode: UInt8
        var payload: [UInt8]
    }

    func run() throws {
        guard let magicBytes = NullData.parseMagic(magic) else {
            Self.printError("--magic '\(magic)' must be ASCII (like id) or hex (like 0x6964), 1 to 32 bytes")
            throw ExitCode(2)
        }
        let (directory, index) = try source.loadIndex(for: Self.self)
        let order = all ? Array(index.entries.indices) : index.bestChain
        let pass = BlockPass(directory: directory, index: index, options: source.passOptions)
        let filter = OperationFilter(magic: magicBytes)  // every opcode
        let out = OutputBuffer()
        do {
            try pass.run(entries: order, transform: { block in
                var found: [Operation] = []
                for (vtxindex, tx) in block.view.transactions.enumerated() {
                    guard let op = filter.operation(in: tx) else { continue }
                    found.append(Operation(txid: tx.txid(), vtxindex: vtxindex, opcode: op.opcode, payload: Array(op.payload)))
                }
                return found
            }, consume: { entry, operations in
                let height = index.entries[entry].height
                let block = index.entries[entry].hash.displayHex
                for op in operations {
                    try out.line(try JSONOutput.line(OperationJSON(height: height, block: block, txid: op.txid.displayHex, vtxindex: op.vtxindex,
                                                                   opcode: Hex.encode([op.opcode]), payload: Hex.encode(op.payload))))
                }
            })
            try out.finish()
        } catch {
            try? out.flush()
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
    }

}
