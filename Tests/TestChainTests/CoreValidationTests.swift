import Foundation
import Testing
import TestSupport
@testable import TestChain

/// Bitcoin Core itself (libbitcoinkernel through py-bitcoinkernel) validates generated chains and
/// writes its own undo records, which must equal ours byte for byte. Runs in CI, where
/// `scripts/test` installs py-bitcoinkernel; skipped elsewhere only if it is missing.
@Suite(.serialized) struct CoreValidationTests {
    static let kernelAvailable = pythonHas(["pbk"])

    func validate(_ options: TestChainOptions, compareFiles: Bool, heightOrder: Bool = false) throws {
        if !Self.kernelAvailable {
            if TestPaths.inCI { Issue.record("py-bitcoinkernel is not installed; scripts/test installs it") }
            return
        }
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let generated = root.appendingPathComponent("generated"), core = root.appendingPathComponent("core")
        _ = try TestChainGenerator.generate(options, out: generated.path)
        let result = try runPython("kernel_check.py", [generated.path, core.path] + (compareFiles ? ["--compare-files"] : []) + (heightOrder ? ["--height-order"] : []))
        #expect(result.status == 0, "Core disagreed: \(result.stdout) \(result.stderr.suffix(2000))")
        #expect(result.stdout.contains("\"problems\": []"), "\(result.stdout)")
    }

    @Test(.enabled(if: kernelAvailable || TestPaths.inCI, "py-bitcoinkernel not installed (pip install py-bitcoinkernel)"))
    func coreAcceptsShuffledChainWithStaleBlocksAndReorg() throws {
        try validate(smallOptions(), compareFiles: false)
    }

    @Test(.enabled(if: kernelAvailable || TestPaths.inCI, "py-bitcoinkernel not installed (pip install py-bitcoinkernel)"))
    func coreAcceptsEveryBlockInHeightOrder() throws {
        try validate(smallOptions(seed: "height-order"), compareFiles: false, heightOrder: true)
    }

    @Test(.enabled(if: kernelAvailable || TestPaths.inCI, "py-bitcoinkernel not installed (pip install py-bitcoinkernel)"))
    func coreWritesByteIdenticalFiles() throws {
        // With Core's own 128 MiB file size the whole blk/rev files must match, padding included.
        var options = smallOptions(seed: "files")
        options.length = .blocks(260)
        options.maxFileSize = 128 << 20
        options.blockWeight = 400_000
        try validate(options, compareFiles: true)
    }
}
