import ArgumentParser
import BlockFiles
import BlockReader
import ChainIndex
import Foundation

/// Where the blocks are and how to read them; shared by `blocks`, `ops` and `bench`.
struct ChainSourceOptions: ParsableArguments {
    @Option(help: "Bitcoin Core data directory (network subfolder chosen by --network). Default ~/.bitcoin.")
    var datadir: String?

    @Option(help: "A blocks directory, used as it is.")
    var blocksdir: String?

    @Option(help: "mainnet, testnet3, testnet4, signet or regtest.")
    var network = "mainnet"

    @Option(name: .customLong("base-height"),
            help: "Height of the first available block of a pruned or partial directory; needed where that block predates BIP34 (mainnet below 227931, testnet3 below 21111), checked against its BIP34 height otherwise.")
    var baseHeight: Int?

    @Flag(name: .customLong("no-verify"), help: "Skip the merkle-root, version, BIP34-height and witness-commitment checks.")
    var noVerify = false

    @Option(help: "Worker threads for the block pass (default: all cores).")
    var threads: Int?

    func validate() throws {
        if datadir != nil && blocksdir != nil { throw ValidationError("use --datadir or --blocksdir, not both") }
        if Network(name: network) == nil { throw ValidationError("unknown --network '\(network)' (mainnet, testnet3, testnet4, signet, regtest)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let baseHeight, !(0...ChainIndex.maxBaseHeight).contains(baseHeight) {
            throw ValidationError("--base-height must be between 0 and \(ChainIndex.maxBaseHeight)")
        }
    }

    var resolvedNetwork: Network { Network(name: network)! }

    func openDirectory() throws -> BlocksDirectory {
        try BlocksDirectory.locate(datadir: datadir, blocksdir: blocksdir, network: resolvedNetwork)
    }

    /// Opens the blocks directory and runs the header pass, reporting its findings on stderr;
    /// a directory that cannot be read ends `command` with exit status 1.
    func loadIndex(for command: ParsableCommand.Type, quiet: Bool = false) throws -> (BlocksDirectory, ChainIndex) {
        do {
            let directory = try openDirectory()
            let index = try ChainIndex(directory: directory, baseHeight: baseHeight)
            reportIndexFindings(index, quiet: quiet)
            return (directory, index)
        } catch {
            command.printError("\(error)")
            throw ExitCode(1)
        }
    }

    var passOptions: BlockPassOptions { BlockPassOptions(verify: !noVerify, threads: threads) }
}

/// Prints the header pass's findings on stderr.
func reportIndexFindings(_ index: ChainIndex, quiet: Bool = false) {
    for problem in index.problems { warn("warning: \(problem)") }
    guard !quiet else { return }
    for note in index.notes { warn("note: \(note)") }
    let stale = index.records.indices.filter { !index.isOnBestChain[$0] && !index.isDuplicate($0) }.count
    if stale > 0 { warn("note: \(stale) block(s) not on the best chain (stale or unconnected) left out; --all lists them") }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes lines to stdout through one buffer (much faster than `print` for large listings).
final class OutputBuffer {
    private var buffer = [UInt8]()

    init() { buffer.reserveCapacity(1 << 16) }

    func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0a)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Minimal JSON string escaping for the values we print (hex, paths, ASCII).
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
