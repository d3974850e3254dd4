import Foundation
import Testing
import TestSupport
@testable import BlockFiles
@testable import TestChain

/// A blk file cut while an import reads it (pruned, rewritten) ends the import with an error
/// naming the file, or not at all if the cut missed what it still had to read; never with a
/// signal (the mapping's SIGBUS is caught), whatever the moment. The files are xor'd in one run
/// (blocks copied out of the mapping) and not in the other (blocks parsed in place).
@Suite(.serialized) struct ShrinkingFileTests {
    @Test(arguments: [false, true])
    func cuttingBlockFilesDuringAnImportNeverRaisesASignal(xor: Bool) throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .blocks(400)
        options.blockWeight = 200_000
        options.maxFileSize = 4 << 20
        options.xor = xor
        options.seed = "shrinking-\(xor)"
        let pristine = root.appendingPathComponent("pristine")
        _ = try TestChainGenerator.generate(options, out: pristine.path)
        var generator = SystemRandomNumberGenerator()
        var outcomes: [Int32: Int] = [:]
        for round in 0..<12 {
            let blocks = root.appendingPathComponent("blocks-\(round)"), state = root.appendingPathComponent("state-\(round)")
            try FileManager.default.copyItem(at: pristine.appendingPathComponent("blocks"), to: blocks)
            let files = try BlocksDirectory(path: blocks.path, network: .regtest).blockFiles
            let process = Process()
            process.executableURL = TestPaths.executable
            process.arguments = ["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path, "--quiet"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // A moment into the import, cut a file to a fraction of itself, in place.
            usleep(UInt32.random(in: 20_000...400_000, using: &generator))
            let victim = blocks.appendingPathComponent(BlockFileFormat.blockFileName(files.randomElement(using: &generator)!))
            let size = try FileManager.default.attributesOfItem(atPath: victim.path)[.size] as! Int
            #expect(truncate(victim.path, off_t(size / Int.random(in: 2...8, using: &generator))) == 0)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit, "round \(round): the import died of signal \(process.terminationStatus)")
            outcomes[process.terminationStatus, default: 0] += 1
            try? FileManager.default.removeItem(at: blocks)
            try? FileManager.default.removeItem(at: state)
        }
        #expect(Set(outcomes.keys).isSubset(of: [0, 1]), "\(outcomes)")
        print("cut during import (xor \(xor)): exit statuses \(outcomes)")
    }
}
