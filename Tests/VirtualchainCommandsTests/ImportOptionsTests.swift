import ArgumentParser
import Testing
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import ConsensusHashing
@testable import Reference
@testable import VirtualchainCommands

/// The command line's own rules, in process: what `import`'s flags become, which values are
/// refused as usage errors, and which errors get a hint naming the flag to look at.
@Suite(.serialized) struct ImportOptionsTests {
    init() {
        CommandLineSetup.machines = [MachineRegistration("reference") { _ in NotaryMachine() }]
    }

    let hashA = String(repeating: "ab", count: 16), hashB = String(repeating: "cd", count: 16)

    func parse(_ arguments: [String]) throws -> ImportCommand {
        try ImportCommand.parse(["--blocksdir", "/nonexistent", "--network", "regtest", "--state", "/tmp/s"] + arguments)
    }

    @Test func flagsBecomeTheImportersOptions() throws {
        let command = try parse(["--checkpoint-every", "50", "--checkpoint-share", "0", "--keep", "4", "--keep-every", "7",
                                 "--until", "900", "--expect", "12:\(hashA)", "--expect", "40:\(hashB)"])
        let options = command.options.importerOptions
        #expect(options.checkpointEvery == 50)
        #expect(options.checkpointShare == nil)  // 0: never deferred
        #expect(options.retention.keep == 4 && options.retention.keepEvery == 7)
        #expect(options.until == 900)
        #expect(options.confirmations == 0)  // --confirmations counts only with --follow
        #expect(options.expectedConsensusHashes == [12: ConsensusDigest(hex: hashA)!, 40: ConsensusDigest(hex: hashB)!])
        let following = try parse(["--follow", "--confirmations", "3"]).options.importerOptions
        #expect(following.confirmations == 3)
        #expect(try parse([]).options.importerOptions.checkpointShare == 0.05)
    }

    @Test func impossibleValuesAreUsageErrors() {
        let refused: [[String]] = [
            ["--expect", "12"], ["--expect", "x:\(hashA)"], ["--expect", "-1:\(hashA)"], ["--expect", "12:abc"],
            ["--expect", "12:\(hashA)", "--expect", "12:\(hashB)"],  // two hashes for one height
            ["--checkpoint-every", "0"], ["--keep", "0"], ["--keep-every", "0"], ["--checkpoint-share", "1.5"],
            ["--confirmations", "0"], ["--machine", "nosuch"],
        ]
        for arguments in refused {
            #expect(throws: (any Error).self, "\(arguments)") { try parse(arguments) }
        }
        // The same hash given twice for a height is no contradiction.
        #expect(throws: Never.self) { try parse(["--expect", "12:\(hashA)", "--expect", "12:\(hashA.uppercased())"]) }
    }

    @Test func errorsAboutTheNetworkOrBaseHeightNameTheFlag() {
        let foreign = ChainIndexError.foreignNetwork(path: "/b/blk00000.dat", found: .mainnet, expected: .regtest)
        #expect(commandLineMessage(for: foreign).hasSuffix("[--network]"))
        let genesis = ChainIndexError.genesisPresent(path: "/b/blk00000.dat", offset: 0, given: 5)
        #expect(commandLineMessage(for: genesis).hasSuffix("[--base-height]"))
        let other = ChainIndexError.file(BlockFileError(path: "/b/blk00000.dat", "cannot open"))
        #expect(!commandLineMessage(for: other).contains("[--"))
    }
}
