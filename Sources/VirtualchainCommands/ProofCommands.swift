import ArgumentParser
import BitcoinWire
import BlockFiles
import ChainIndex
import Foundation
import Proofs
import Virtualchain

struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Print the light-client proof of one accepted record (one JSON object, shared/spec/proofs.md).",
        discussion: "A client holding one trusted consensus hash checks it with verify-proof, without blocks or state. With a blocks directory the proof also carries the Bitcoin transaction, its merkle branch and its block header."
    )

    @Option(help: "State directory.") var state: String
    @Option(help: "The transaction whose record to prove (display hex).") var txid: String?
    @Option(help: "Or: the block height of the record...") var height: Int?
    @Option(help: "...and its position among the block's accepted records (0 first).") var record: Int?
    @Option(name: .customLong("trusted-height"), help: "The height whose consensus hash the client trusts (default: the state's tip).")
    var trustedHeight: Int?
    @Option(help: "Blocks directory, for the Bitcoin part.") var blocksdir: String?
    @Option(help: "Or a Bitcoin Core data directory (network subfolder by --network).") var datadir: String?
    @Option(help: "Network of --datadir/--blocksdir.") var network = "mainnet"

    func validate() throws {
        switch (txid, height, record) {
        case (.some, nil, nil), (nil, .some, .some): break
        default: throw ValidationError("give --txid, or --height and --record")
        }
        if datadir != nil && blocksdir != nil { throw ValidationError("use --datadir or --blocksdir, not both") }
        if Network(name: network) == nil { throw ValidationError("unknown --network '\(network)'") }
    }

    func run() throws {
        let store = try openState(state, command: Self.self)
        do {
            var blocks: (directory: BlocksDirectory, index: ChainIndex)?
            if datadir != nil || blocksdir != nil {
                let directory = try BlocksDirectory.locate(datadir: datadir, blocksdir: blocksdir, network: Network(name: network)!)
                blocks = (directory, try ChainIndex(directory: directory))
            }
            let proof: Proof
            if let txid {
                proof = try ProofBuilder.proof(store: store, txid: txid, trustedHeight: trustedHeight, blocks: blocks)
            } else {
                proof = try ProofBuilder.proof(store: store, height: height!, recordIndex: record!, trustedHeight: trustedHeight, blocks: blocks)
            }
            emit(try proof.json())
        } catch {
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
    }
}

struct VerifyProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-proof",
        abstract: "Check a proof against the consensus hash you trust; print the proven record (height, record, txid).",
        discussion: "Exit 0 when every step of shared/spec/proofs.md passes, 1 naming the step that failed. Needs no state and no blocks."
    )

    @Argument(help: "The proof (a JSON file; - for standard input).") var file: String
    @Option(help: "The height whose consensus hash you trust.") var height: Int
    @Option(name: .customLong("consensus-hash"), help: "That consensus hash (32 hex digits), from a source you trust.") var consensusHash: String
    @Option(help: "The machine's magic (ASCII or 0x hex), if the program does not know the proof's machine.") var magic: String?

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = file == "-" ? [UInt8](FileHandle.standardInput.readDataToEndOfFile()) : [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            Self.printError("\(file): cannot be read: \(error.localizedDescription)")
            throw ExitCode(1)
        }
        do {
            let proof = try Proof.parse(bytes)
            var magicBytes: [UInt8]?
            if let magic {
                guard let parsed = NullData.parseMagic(magic) else { throw ValidationError("--magic '\(magic)' must be ASCII or 0x-prefixed hex") }
                magicBytes = parsed
            } else if let network = Network(name: proof.network), let machine = CommandLineSetup.machines.first(where: { $0.name == proof.machine }) {
                magicBytes = machine.magic(network)
            }
            let proven = try ProofVerifier.verify(proof, trustedHeight: height, trustedConsensusHash: consensusHash, magic: magicBytes)
            emit(try JSONOutput.line(proven))
        } catch let error as ProofError {
            Self.printError("proof refused at \(error)")
            throw ExitCode(1)
        }
    }
}
