import ArgumentParser
import Foundation

@main
struct Virtualchain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "virtualchain",
        abstract: "Virtual blockchains over Bitcoin Core block files.",
        subcommands: [ImportCommand.self, RebuildCommand.self, StatusCommand.self, ExportCommand.self, VerifyCommand.self, CheckpointsCommand.self,
                      BlocksCommand.self, OpsCommand.self, BenchCommand.self, TestchainCommand.self]
    )

    /// Usage errors exit with status 2, like other Unix tools (ArgumentParser's default is 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            // Results that never reached their destination are a failure, not a success.
            try OutputError.checkStandardOutput()
        } catch let error as OutputError {
            FileHandle.standardError.write(Data("virtualchain: error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// A usage problem found after parsing (impossible combination, bad value): message, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Runs `body`, turning usage problems into "error: ..." and exit status 2.
    func reportingUsageErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as UsageError {
            Self.printError(error.description)
            throw ExitCode(2)
        }
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("virtualchain \(configuration.commandName ?? ""): error: \(message)\n".utf8))
    }
}

/// Parses byte sizes like `2GiB`, `500MB`, `131072`.
enum ByteSize {
    static func parse(_ text: String) -> Int? {
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
final class ProgressLine {
    private let enabled = isatty(STDERR_FILENO) != 0
    private var last = Date.distantPast

    func update(_ text: @autoclosure () -> String, force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(last) > 0.2 else { return }
        last = now
        FileHandle.standardError.write(Data("\r\u{1b}[K\(text())".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
    }
}
