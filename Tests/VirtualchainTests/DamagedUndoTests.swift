import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex
@testable import TestChain
@testable import Virtualchain

@Suite struct DamagedUndoTests {
    /// A flipped byte in the undo record of a block with operations stops the import there, naming
    /// the rev file; the state stays at the block before, and once the file is repaired the import
    /// completes with the export of an undamaged run.
    @Test func damagedUndoRecordStopsTheImportAndKeepsTheState() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .blocks(200)
        options.seed = "damaged-undo"
        options.scenario = .names
        options.blockWeight = 40_000
        _ = try TestChainGenerator.generate(options, out: root.appendingPathComponent("chain").path)
        let blocks = root.appendingPathComponent("chain/blocks")
        let reference = root.appendingPathComponent("reference")
        #expect(try runCLI(["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", reference.path, "--quiet"]).status == 0)

        // The first block after 150 with operations, and its undo record.
        let ops = try runCLI(["ops", "--blocksdir", blocks.path, "--network", "regtest", "--magic", "id"]).stdout.split(separator: "\n")
        let candidates = ops.compactMap { line -> (Int, String)? in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let height = object?["height"] as? Int, height > 150, let block = object?["block"] as? String else { return nil }
            return (height, block)
        }
        let target = try #require(candidates.first)
        let directory = try BlocksDirectory(path: blocks.path, network: .regtest)
        let index = try ChainIndex(directory: directory)
        let record = index.entries[index.entryIndex(of: BlockHash(displayHex: target.1)!)!]
        let revPath = directory.undoFilePath(record.location.file)
        var rev = [UInt8](try Data(contentsOf: URL(fileURLWithPath: revPath)))
        let original = rev
        // Find the record whose checksum commits to this block's parent, and damage its data.
        var position = 0, damagedAt: Int?
        while position + 8 <= rev.count, damagedAt == nil {
            let size = Int(UInt32(littleEndian: rev.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self) }))
            guard size > 0 else { break }
            let undo = Array(rev[(position + 8)..<(position + 8 + size)])
            if Hashes.dsha256(record.parent.bytes + undo).bytes == Array(rev[(position + 8 + size)..<(position + 8 + size + 32)]) {
                damagedAt = position + 8 + size / 2
            }
            position += 8 + size + 32
        }
        let offset = try #require(damagedAt)
        rev[offset] ^= 0x04
        try Data(rev).write(to: URL(fileURLWithPath: revPath))

        let state = root.appendingPathComponent("state")
        let failed = try runCLI(["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("rev0000\(record.location.file).dat: no undo record fits block \(target.1) at height \(target.0)"), "\(failed.stderr)")
        #expect(try StateStore(directory: state.path).tip()?.height == target.0 - 1)

        try Data(original).write(to: URL(fileURLWithPath: revPath))
        #expect(try runCLI(["import", "--blocksdir", blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path, "--quiet"]).status == 0)
        #expect(try runCLI(["export", "--state", state.path]).stdout == runCLI(["export", "--state", reference.path]).stdout)
    }
}
