import ArgumentParser
import VirtualchainCommands
import BlockFiles
import Foundation
import TestChain

struct TestchainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testchain",
        abstract: "Generate a Bitcoin Core-style data directory holding a valid test chain.",
        discussion: """
        Writes DIR/blocks/blk*.dat, rev*.dat (and xor.dat with --xor) exactly as Bitcoin Core lays them out, \
        and DIR/testchain.json describing the result. The same arguments and --seed give byte-identical output.
        """
    )

    @Option(help: "Output directory (must not exist or be empty).")
    var out: String

    @Option(help: "regtest, mainnet, testnet3, testnet4 or signet (sets magic and genesis).")
    var network = "regtest"

    @Option(help: "Main-chain blocks after genesis (default 200 unless --size is given).")
    var blocks: Int?

    @Option(help: "Total size of the block records to reach instead, e.g. 64MiB or 2GiB.")
    var size: String?

    @Option(help: "Seed; the same seed and arguments give the same bytes.")
    var seed = "0"

    @Flag(help: "Obfuscate blk/rev files with a random xor.dat key, as Bitcoin Core 28+ does.")
    var xor = false

    @Option(help: "Number of stale side branches (1-3 blocks each) that lose to the main chain.")
    var stale = 0

    @Flag(help: "Add a branch that is connected first and then loses to one with more work (a reorganisation).")
    var reorg = false

    @Option(name: .customLong("shuffle-window"), help: "Store blocks up to this many positions out of height order.")
    var shuffleWindow = 0

    @Option(name: .customLong("max-file-size"), help: "Rotate blk files before this size (default 128MiB, as Core).")
    var maxFileSize = "128MiB"

    @Option(name: .customLong("op-mix"), help: "OP_RETURN mix, e.g. rate=0.05,magics=id:3/omni:1,payload=0-60,malformed=0.1,foreign=0.2,multi=0.05")
    var opMix: String?

    @Option(name: .customLong("block-weight"), help: "Largest block weight to fill up to (default 4000000).")
    var blockWeight = 4_000_000

    @Option(help: "Play out a state machine's story: names (preorders, registrations, transfers, and every invalid kind).")
    var scenario: String?

    @Option(name: .customLong("start-height"),
            help: "Write the chain as a pruned node holds it: the first block at this height, its parent absent (default 0: from genesis).")
    var startHeight = 0

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    func makeOptions() throws -> TestChainOptions {
        var options = TestChainOptions()
        guard let network = Network(name: self.network) else {
            throw UsageError("unknown --network '\(self.network)' (regtest, mainnet, testnet3, testnet4, signet)")
        }
        options.network = network
        switch (blocks, size) {
        case (.some, .some): throw UsageError("--blocks and --size cannot be used together")
        case let (.some(n), nil): options.length = .blocks(n)
        case let (nil, .some(text)):
            guard let bytes = ByteSize.parse(text) else { throw UsageError("--size '\(text)' is not a size like 64MiB or 2GiB") }
            options.length = .bytes(bytes)
        case (nil, nil): options.length = .blocks(200)
        }
        options.seed = seed
        options.xor = xor
        options.stale = stale
        options.reorg = reorg
        options.shuffleWindow = shuffleWindow
        guard let fileSize = ByteSize.parse(maxFileSize) else { throw UsageError("--max-file-size '\(maxFileSize)' is not a size") }
        options.maxFileSize = fileSize
        options.blockWeight = blockWeight
        options.startHeight = startHeight
        if let scenario {
            guard let choice = TestChainOptions.Scenario(rawValue: scenario) else { throw UsageError("unknown --scenario '\(scenario)' (names)") }
            options.scenario = choice
        }
        if let opMix {
            do { options.opMix = try OpMix(parsing: opMix) } catch { throw UsageError("\(error)") }
        }
        do { try options.validate() } catch { throw UsageError(Self.message(for: error)) }
        do { try TestChainGenerator.checkOutput(out) } catch { throw UsageError(Self.message(for: error)) }
        return options
    }

    func run() throws {
        var options = TestChainOptions()
        try reportingUsageErrors { options = try makeOptions() }
        let progress = ProgressLine()
        let started = Date()
        let summary: TestChainSummary
        do {
            summary = try TestChainGenerator.generate(options, out: out) { height, bytes in
                progress.update("testchain: height \(height), \(bytes >> 20) MiB")
            }
        } catch {
            progress.finish()
            Self.printError("\(error)")
            throw ExitCode(1)
        }
        progress.finish()
        if !quiet {
            let seconds = Date().timeIntervalSince(started)
            let mib = Double(summary.blockBytes) / 1_048_576
            emit("""
            wrote \(out)/blocks: \(summary.options.network.rawValue), tip \(summary.tipHash.displayHex) at height \(summary.tipHeight), \
            \(summary.records) block records (\(summary.staleBlocks.count) stale), \(summary.transactions) transactions, \
            \(String(format: "%.1f", mib)) MiB in \(String(format: "%.1f", seconds)) s (\(String(format: "%.0f", mib / max(seconds, 1e-9))) MiB/s)
            """)
        }
    }

    /// The generator's message plus the flag that sets what it is about.
    static func message(for error: TestChainError) -> String {
        let flag: String? = switch error {
        case let .outOfRange(setting, _, _):
            switch setting {
            case .blocks: "--blocks"
            case .staleBranches: "--stale"
            case .shuffleWindow: "--shuffle-window"
            case .blockWeight: "--block-weight"
            case .users: nil
            case .startHeight: "--start-height"
            }
        case .tooShortForBranches: "--blocks with --stale or --reorg"
        case .sizeBelowOneBlock: "--size"
        case .filesTooSmallForBlocks: "--max-file-size"
        case .scenarioMagicInOpMix: "--op-mix"
        case .scenarioBelowStartHeight: "--start-height"
        case .outputNotADirectory, .outputNotEmpty: "--out"
        case .modelDiverged: nil
        }
        return flag.map { "\(error) [\($0)]" } ?? error.description
    }
}
