import Foundation

/// Paths and helpers shared by the test targets.
public enum TestPaths {
    /// The package root (this file is Tests/TestSupport/TestSupport.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/corpus` beside the project: real blocks, read in place, never copied.
    public static let corpus = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
    public static var corpusAvailable: Bool { FileManager.default.fileExists(atPath: corpus.path) }

    /// `../shared/spec` beside the project: vectors computed with the original's code, read in place.
    public static let sharedSpec = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/spec")

    public static let pythonTests = packageRoot.appendingPathComponent("Tests/python")

    /// The built `virtualchain` executable (the test targets depend on it, so it is built first).
    public static var executable: URL { builtProgram("virtualchain") }

    /// A program of this package built beside the test bundle (a test target that depends on it
    /// has it built first).
    public static func builtProgram(_ name: String) -> URL {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        for directory in candidates {
            let url = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return packageRoot.appendingPathComponent(".build/debug/" + name)
    }

    /// The release build of `virtualchain` (scripts/test builds it): for tests whose subject is the
    /// optimised program's behaviour at scale, not the code's.
    public static var releaseExecutable: URL? {
        let url = packageRoot.appendingPathComponent(".build/release/virtualchain")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    /// A fresh empty directory under the system temporary directory.
    public static func temporaryDirectory(_ name: String = #function) throws -> URL {
        let cleaned = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("vc-tests-\(cleaned)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// True under CI (CI=true), where tests that would skip locally must run.
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }
}

public struct ProcessResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs a program to completion, capturing its output.
public func runProcess(_ executable: URL, _ arguments: [String], currentDirectory: URL? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    // Output goes to temporary files, so a chatty child can never block on a full pipe.
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vc-proc-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try out.close()
    try err.close()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                         stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// Runs `virtualchain` with `arguments`.
public func runCLI(_ arguments: [String]) throws -> ProcessResult {
    try runProcess(TestPaths.executable, arguments)
}

/// The interpreter of the project's test environment (`scripts/setup-test-tools` makes `.venv`):
/// the oracles are installed there, never into the system's Python.
public var testPython: URL { TestPaths.packageRoot.appendingPathComponent(".venv/bin/python3") }

/// Whether the test environment's Python can import all of `modules`.
public func pythonHas(_ modules: [String]) -> Bool {
    guard FileManager.default.isExecutableFile(atPath: testPython.path),
          let result = try? runProcess(testPython, ["-c", modules.map { "import \($0)" }.joined(separator: ";")]) else { return false }
    return result.status == 0
}

/// Runs a script from Tests/python with the test environment's Python.
public func runPython(_ script: String, _ arguments: [String]) throws -> ProcessResult {
    try runProcess(testPython, [TestPaths.pythonTests.appendingPathComponent(script).path] + arguments)
}
