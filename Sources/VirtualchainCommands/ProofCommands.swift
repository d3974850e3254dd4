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
        abstract: "Print the light-client proof of one accepted record (one JSON object, docs/proofs.md).",
        discussion: "A client holding one trusted consensus hash checks it with verify-proof, without blocks or state. With a blocks directory the proof also carries the Bitcoin transaction, its merkle branch, its block header and the block's coinbase (which binds the height); without one the txid is null."
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
        if let txid, Txid(displayHex: txid) == nil { throw ValidationError("--txid '\(txid)' is not a transaction id (64 hex digits)") }
        if datadir != nil && blocksdir != nil { throw ValidationError("use --datadir or --blocksdir, not both") }
        if Network(name: network) == nil { throw ValidationError("unknown --network '\(network)'") }
    }

    func run() throws {
        let store = try openState(state, command: Self.self)
        defer { store.close() }
        do {
            var blocks: (directory: BlocksDirectory, index: ChainIndex)?
            if datadir != nil || blocksdir != nil {
                let directory = try BlocksDirectory.locate(datadir: datadir, blocksdir: blocksdir, network: Network(name: network)!)
                blocks = (directory, try ChainIndex(directory: directory))
            }
            let proof: Proof
            if let txid = txid.flatMap(Txid.init(displayHex:)) {
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
        abstract: "Check a proof against the consensus hash you trust; print what it proves and, apart, what it only claims.",
        discussion: """
            Exit 0 when every step of docs/proofs.md passes, 1 naming the step that failed, 2 for bad input. The output is one \
            JSON object: "proven" holds what a step checked (always the record; the height when the coinbase's BIP34 height or \
            the machine's height field bound it; the txid with the Bitcoin part; machine, network and first block when you \
            named them), "unproven" what the proof only claims. Needs no state and no blocks.
            """
    )

    @Argument(help: "The proof (a JSON file; - for standard input).") var file: String
    @Option(help: "The height whose consensus hash you trust.") var height: Int
    @Option(name: .customLong("consensus-hash"), help: "That consensus hash (32 hex digits), from a source you trust.") var consensusHash: String
    @Option(help: ArgumentHelp("The machine you expect (its magic, first block, version and record fields come from it).", valueName: "name"))
    var machine: String?
    @Option(help: "The network you expect (mainnet, testnet3, testnet4, signet, regtest).") var network: String?
    @Option(help: "The machine's magic (ASCII or 0x hex), if the program does not know the proof's machine.") var magic: String?
    @Flag(name: .customLong("require-height"), help: "Refuse a proof whose height nothing binds.") var requireHeight = false

    func validate() throws {
        if ConsensusDigest(hex: consensusHash) == nil { throw ValidationError("--consensus-hash '\(consensusHash)' is not a consensus hash (32 hex digits)") }
        if let network, Network(name: network) == nil { throw ValidationError("unknown --network '\(network)'") }
        if let magic, NullData.parseMagic(magic) == nil { throw ValidationError("--magic '\(magic)' must be ASCII or 0x-prefixed hex") }
        if let machine { _ = try CommandLineSetup.machine(named: machine) }
    }

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = try file == "-" ? [UInt8](FileHandle.standardInput.readDataToEndOfFile()) : ReadOnlyFile.readWhole(path: file, limit: Proof.maxJSONBytes)
        } catch {
            Self.printError("\(file): cannot be read: \(commandLineMessage(for: error))")
            throw ExitCode(2)
        }
        do {
            let proof = try Proof.parse(bytes)
            let proven = try ProofVerifier.verify(proof, trustedHeight: height, trustedConsensusHash: consensusHash, expecting: expectations(for: proof))
            emit(try JSONOutput.line(proven.json))
        } catch let error as ProofError {
            Self.printError("proof refused at \(error)")
            throw ExitCode(1)
        }
    }

    /// What the client said it expects; where it named no machine, the proof's machine (if the
    /// program has it) lends its magic and record fields to the checks, but the machine itself
    /// stays unproven.
    func expectations(for proof: Proof) -> ProofExpectations {
        var expected = ProofExpectations(requireHeight: requireHeight)
        let expectedNetwork = network.flatMap(Network.init(name:))
        expected.network = expectedNetwork?.rawValue
        let registrationNetwork = expectedNetwork ?? Network(name: proof.network)
        if let registrationNetwork { expected.bip34Height = registrationNetwork.consensus.bip34Height }
        let registration = CommandLineSetup.machines.first { $0.name == (machine ?? proof.machine) }
        if let registration, let registrationNetwork {
            if machine != nil {
                expected.machine = registration.identity
                expected.machineVersion = registration.version
                expected.firstBlock = registration.firstBlock(registrationNetwork)
            }
            expected.magic = registration.magic(registrationNetwork)
            expected.recordFields = registration.recordFields
        }
        if let magic { expected.magic = NullData.parseMagic(magic) }
        return expected
    }
}
