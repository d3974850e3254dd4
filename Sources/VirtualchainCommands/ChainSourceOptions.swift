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

    /// Opens the blocks directory and runs a full header pass, reporting its findings on
    /// stderr; a directory that cannot be read ends `command` with exit status 1.
    func loadIndex(for command: ParsableCommand.Type) throws -> (BlocksDirectory, ChainIndex) {
        do {
            let directory = try openDirectory()
            let index = try ChainIndex(directory: directory, baseHeight: baseHeight)
            reportIndexFindings(index)
            return (directory, index)
        } catch {
            command.printError(commandLineMessage(for: error))
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
    let stale = index.entries.filter { $0.status == .stale || $0.status == .unconnected }.count
    if stale > 0 { warn("note: \(stale) block(s) not on the best chain (stale or unconnected) left out; --all lists them") }
}

public func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Standard output could not take what a command wrote (a full device, an I/O error): the command
/// fails, naming the cause, rather than exit 0 with its results lost. (A closed pipe keeps the
/// conventional SIGPIPE behaviour.)
struct OutputError: Error, CustomStringConvertible {
    var reason: String
    var description: String { "cannot write the results to standard output: \(reason)" }

    /// The first failure of any writer of this process, for the final check in `main`.
    nonisolated(unsafe) static var first: OutputError?

    static func record(errno code: Int32) -> OutputError {
        let error = OutputError(reason: String(cString: strerror(code)))
        if first == nil { first = error }
        return error
    }

    /// Writes what `emit` gathered and reports the first failure of any writer.
    static func checkStandardOutput() throws {
        try emitted.finish()
        if let first { throw first }
    }
}

/// The commands' short results (summaries, status, tables), written line by line.
nonisolated(unsafe) let emitted = OutputBuffer()

/// Prints one line of a command's results to stdout (instead of `print`, whose write errors
/// nobody sees); the process fails at exit if it could not be written.
public func emit(_ text: String) {
    do {
        try emitted.line(text)
        try emitted.flush()
    } catch {}  // recorded in OutputError.first; reported at exit
}

/// Writes lines to stdout through one buffer (much faster than `print` for large listings). A
/// failed write throws `OutputError`; call `finish()` once the last line is written.
final class OutputBuffer {
    private var buffer = [UInt8]()
    private var failed = false

    /// Bytes gathered before a write.
    static let capacity = 1 << 16

    init() { buffer.reserveCapacity(Self.capacity) }

    func line(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0a)
        if buffer.count >= Self.capacity { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty, !failed else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        try buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failed = true
                    throw OutputError.record(errno: n < 0 ? errno : EIO)
                }
                offset += n
            }
        }
    }

    /// Writes what is left; throws if anything written so far was lost.
    func finish() throws {
        try flush()
        if failed, let first = OutputError.first { throw first }
    }

    deinit { try? flush() }
}
