import ArgumentParser
import ChainIndex
import Foundation

/// What a program built on this command line is called and what it offers; set once by
/// `VirtualchainCommandLine.main` before the arguments are parsed.
enum CommandLineSetup {
    nonisolated(unsafe) static var name = "virtualchain"
    nonisolated(unsafe) static var abstract = "Virtual blockchains over Bitcoin Core block files."
    nonisolated(unsafe) static var machines: [MachineRegistration] = []
    nonisolated(unsafe) static var subcommands: [ParsableCommand.Type] = []

    /// The machine registered as `name` (`--machine`), or a usage error naming those there are.
    static func machine(named name: String) throws(ValidationError) -> MachineRegistration {
        guard let found = machines.first(where: { $0.name == name }) else {
            throw ValidationError("unknown --machine '\(name)' (\(machines.map(\.name).joined(separator: ", ")))")
        }
        return found
    }
}

/// The root command: its name and subcommands are the program's (`virtualchain`, `guestbook`, ...).
struct RootCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: CommandLineSetup.name, abstract: CommandLineSetup.abstract,
                             subcommands: CommandLineSetup.subcommands)
    }
}

/// The `virtualchain` command line as a library: a program is its state machines plus one call.
///
/// ```swift
/// import VirtualchainCommands
///
/// VirtualchainCommandLine.main(name: "guestbook", machines: [MachineRegistration("guestbook") { _ in Guestbook() }])
/// ```
///
/// gives `guestbook import | rebuild | status | export | verify | checkpoints | prove | verify-proof |
/// blocks | ops | bench`,
/// with checkpoints, restarts, reorganisation handling and follow mode, for that machine.
public enum VirtualchainCommandLine {
    /// The commands every program gets: replay and state commands, then the block-file tools.
    public static let standardCommands: [ParsableCommand.Type] = [
        ImportCommand.self, RebuildCommand.self, StatusCommand.self, ExportCommand.self, VerifyCommand.self, CheckpointsCommand.self,
        ProveCommand.self, VerifyProofCommand.self, BlocksCommand.self, OpsCommand.self, BenchCommand.self,
    ]

    /// Parses the process's arguments and runs the command; never returns. Usage errors exit with
    /// status 2 (as other Unix tools; ArgumentParser's default is 64), failures with 1, and
    /// results that could not be written are a failure too.
    public static func main(name: String, abstract: String? = nil, machines: [MachineRegistration],
                            additionalCommands: [ParsableCommand.Type] = []) -> Never {
        precondition(!machines.isEmpty, "a program needs at least one state machine")
        CommandLineSetup.name = name
        if let abstract { CommandLineSetup.abstract = abstract }
        CommandLineSetup.machines = machines
        CommandLineSetup.subcommands = standardCommands + additionalCommands
        var parsed: ParsableCommand.Type?
        do {
            var command = try RootCommand.parseAsRoot()
            parsed = type(of: command)
            try command.run()
            // Results that never reached their destination are a failure, not a success.
            try OutputError.checkStandardOutput()
        } catch let error as OutputError {
            FileHandle.standardError.write(Data("\(name): error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            if RootCommand.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((RootCommand.fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            // A failure a command did not report itself (a state that cannot be read, say): in the
            // words and form of every other error ("NAME COMMAND: error: ..."), exit status 1.
            if let parsed, !(error is ExitCode), !(error is CleanExit), RootCommand.exitCode(for: error) == .failure {
                parsed.printError(commandLineMessage(for: error))
                Foundation.exit(1)
            }
            RootCommand.exit(withError: error)
        }
        Foundation.exit(0)
    }
}

/// A usage problem found after parsing (impossible combination, bad value): message, exit status 2.
public struct UsageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Runs `body`, turning usage problems into "error: ..." and exit status 2.
    public func reportingUsageErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as UsageError {
            Self.printError(error.description)
            throw ExitCode(2)
        }
    }

    public static func printError(_ message: String) {
        FileHandle.standardError.write(Data("\(CommandLineSetup.name) \(configuration.commandName ?? ""): error: \(message)\n".utf8))
    }
}

/// Parses byte sizes like `2GiB`, `500MB`, `131072`.
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024), ("TiB", 1024.0 * 1024 * 1024 * 1024),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("K", 1024), ("M", 1024 * 1024), ("G", 1024 * 1024 * 1024), ("B", 1),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let number = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number >= 0 else { return nil }
            let value = number * factor
            return value < 9e18 ? Int(value) : nil
        }
        guard let value = Int(trimmed), value >= 0 else { return nil }
        return value
    }
}

/// Progress on stderr, only when it is a terminal, at most a few times a second.
public final class ProgressLine {
    private let enabled = isatty(STDERR_FILENO) != 0
    private var last = Date.distantPast

    public init() {}

    public func update(_ text: @autoclosure () -> String, force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(last) > 0.2 else { return }
        last = now
        FileHandle.standardError.write(Data("\r\u{1b}[K\(text())".utf8))
    }

    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
    }
}

/// An error's message for the command line: the library's words, plus the option that fixes it
/// where there is one (the library does not know our flags).
func commandLineMessage(for error: Error) -> String {
    switch error {
    case let error as ChainIndexError:
        switch error {
        case .baseHeightNeeded, .baseHeightDisagrees, .baseHeightOutOfRange, .genesisPresent:
            return "\(error) [--base-height]"
        case .foreignNetwork:
            return "\(error) [--network]"
        default:
            return "\(error)"
        }
    default:
        return "\(error)"
    }
}
