import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex
@testable import TestChain

/// A small valid chain in height order (no xor, no shuffle) to damage in specific ways.
final class DamageFixture {
    let root: URL
    let blocks: URL
    let summary: TestChainSummary

    init(_ name: String = #function) throws {
        root = try TestPaths.temporaryDirectory(name)
        var options = TestChainOptions()
        options.length = .blocks(130)
        options.seed = "damage"
        options.maxFileSize = 300_000
        options.blockWeight = 60_000
        summary = try TestChainGenerator.generate(options, out: root.path)
        blocks = root.appendingPathComponent("blocks")
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func url(_ file: Int) -> URL { blocks.appendingPathComponent(BlockFileFormat.blockFileName(file)) }
    func bytes(_ file: Int) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(file))) }
    func write(_ file: Int, _ bytes: [UInt8]) throws { try Data(bytes).write(to: url(file)) }

    /// Record locations of one file, in order.
    func records(_ file: Int) throws -> [RecordLocation] {
        var scanner = RecordScanner(file: try FileWindow(path: url(file).path), number: file, magic: Network.regtest.magicValue, xorKey: .none, isNewest: false)
        var out: [RecordLocation] = []
        while let r = try scanner.next() { out.append(r) }
        return out
    }

    func index() throws -> ChainIndex { try ChainIndex(directory: BlocksDirectory(path: blocks.path, network: .regtest)) }

    func cli(_ extra: [String] = []) throws -> ProcessResult {
        try runCLI(["blocks", "--blocksdir", blocks.path, "--network", "regtest"] + extra)
    }
}

@Suite struct BadInputTests {
    /// A blk file that shrank between the header pass and the block pass (pruning, a restore):
    /// an error naming the file, never a read past the new mapping.
    @Test func fileThatShrankAfterTheHeaderPassIsAnErrorNamingIt() throws {
        let f = try DamageFixture()
        let directory = try BlocksDirectory(path: f.blocks.path, network: .regtest)
        let index = try f.index()
        let last = try f.records(0).last!
        try f.write(0, Array(try f.bytes(0).prefix(last.offset + 8 + last.size / 2)))
        let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(verify: true, threads: 2))
        #expect {
            try pass.run(entries: index.bestChain, transform: { _ in 0 }, consume: { _, _ in })
        } throws: { error in
            let text = "\(error)"
            return text.contains("blk00000.dat at offset \(last.offset)") && text.contains("the file changed since the header pass")
        }
    }

    @Test func truncatedRecordInAFinishedFileIsReportedAndSkipped() throws {
        let f = try DamageFixture()
        let last = try f.records(0).last!
        try f.write(0, Array(try f.bytes(0).prefix(last.offset + 8 + last.size / 2)))
        let index = try f.index()
        #expect(index.problems.contains { $0.path.hasSuffix("blk00000.dat") && $0.offset == last.offset && $0.message.contains("runs past the end") })
        #expect(index.tipHeight! < 130)  // the lost block's descendants no longer connect
        let cli = try f.cli()
        #expect(cli.status == 0)
        #expect(cli.stderr.contains("blk00000.dat at offset \(last.offset)"))
    }

    @Test func recordCutShortInTheNewestFileIsNotYetWritten() throws {
        let f = try DamageFixture()
        let newest = try BlocksDirectory(path: f.blocks.path, network: .regtest).blockFiles.last!
        let records = try f.records(newest)
        let last = records.last!
        try f.write(newest, Array(try f.bytes(newest).prefix(last.offset + 8 + 100)))
        let index = try f.index()
        #expect(index.problems.isEmpty)
        #expect(index.notes.contains { $0.contains("offset \(last.offset)") && $0.contains("not yet written") })
        #expect(index.tipHeight == 129)
    }

    @Test func garbageBetweenRecordsIsSkippedWithItsOffset() throws {
        let f = try DamageFixture()
        let second = try f.records(0)[1]
        var bytes = try f.bytes(0)
        bytes.insert(contentsOf: [UInt8](repeating: 0xa5, count: 37), at: second.offset)
        try f.write(0, bytes)
        let index = try f.index()
        #expect(index.problems.count == 1)
        #expect(index.problems.first?.offset == second.offset)
        #expect(index.problems.first?.message.contains("37 bytes skipped") == true)
        #expect(index.tipHeight == 130)
    }

    @Test func recordOfAnotherNetworkIsReported() throws {
        let f = try DamageFixture()
        let second = try f.records(0)[1]
        var bytes = try f.bytes(0)
        bytes.replaceSubrange(second.offset..<(second.offset + 4), with: Network.mainnet.magic)
        try f.write(0, bytes)
        let index = try f.index()
        #expect(index.problems.contains { $0.offset == second.offset && $0.message.contains("magic of mainnet") })
        #expect(index.tipHeight == 0)  // block 1 is gone, so the rest no longer connects

        let wrongNetwork = try runCLI(["blocks", "--blocksdir", f.blocks.path, "--network", "testnet4"])
        #expect(wrongNetwork.status == 1)
        #expect(wrongNetwork.stderr.contains("holds regtest blocks, none for testnet4"))
    }

    @Test(arguments: [UInt32(4_000_001), UInt32(0x7fff_ffff)])
    func impossibleRecordSizeIsReported(size: UInt32) throws {
        let f = try DamageFixture("size\(size)")
        let third = try f.records(0)[2]
        var bytes = try f.bytes(0)
        withUnsafeBytes(of: size.littleEndian) { bytes.replaceSubrange((third.offset + 4)..<(third.offset + 8), with: $0) }
        try f.write(0, bytes)
        let index = try f.index()
        #expect(index.problems.contains { $0.offset == third.offset && $0.message.contains("record size \(size)") })
        #expect(index.tipHeight == 1)
    }

    @Test func sizeFieldLargerThanTheFileIsReported() throws {
        let f = try DamageFixture()
        let last = try f.records(0).last!
        var bytes = try f.bytes(0)
        let size = UInt32(bytes.count - last.offset)  // runs 8 bytes past the end
        withUnsafeBytes(of: size.littleEndian) { bytes.replaceSubrange((last.offset + 4)..<(last.offset + 8), with: $0) }
        try f.write(0, bytes)
        let index = try f.index()
        #expect(index.problems.contains { $0.offset == last.offset && $0.message.contains("runs past the end of the file") })
    }

    @Test func inputCountOf2To32StopsTheBlockPassNamingFileAndOffset() throws {
        let f = try DamageFixture()
        // Block 1 is the second record of blk00000.dat; its coinbase's input count follows the
        // version (and the segwit marker and flag).
        let record = try f.records(0)[1]
        var bytes = try f.bytes(0)
        let payload = record.payloadOffset
        let countOffset = payload + 80 + 1 + 4 + (bytes[payload + 85] == 0 ? 2 : 0)
        let huge: [UInt8] = [0xff, 0, 0, 0, 0, 1, 0, 0, 0]  // CompactSize 2^32
        bytes.replaceSubrange(countOffset..<(countOffset + 1), with: huge)
        let newSize = UInt32(record.size + huge.count - 1)
        withUnsafeBytes(of: newSize.littleEndian) { bytes.replaceSubrange((record.offset + 4)..<(record.offset + 8), with: $0) }
        try f.write(0, bytes)
        let result = try f.cli()
        #expect(result.status == 1)
        #expect(result.stderr.contains("blk00000.dat at offset \(countOffset)"), "\(result.stderr)")
        #expect(result.stderr.contains("4294967296"), "\(result.stderr)")
    }

    @Test func headerFailingItsOwnProofOfWorkIsSkipped() throws {
        let f = try DamageFixture()
        let record = try f.records(0)[5]
        var bytes = try f.bytes(0)
        // Change the nonce until the header no longer meets its (easy) regtest target.
        let nonceOffset = record.payloadOffset + 76
        var nonce = UInt32(0)
        repeat {
            nonce &+= 1
            withUnsafeBytes(of: nonce.littleEndian) { bytes.replaceSubrange(nonceOffset..<(nonceOffset + 4), with: $0) }
        } while ProofOfWork.check(hash: BlockHash(Hashes.dsha256(Array(bytes[record.payloadOffset..<(record.payloadOffset + 80)]))), bits: 0x207f_ffff)
        try f.write(0, bytes)
        let index = try f.index()
        #expect(index.problems.contains { $0.offset == record.offset && $0.message.contains("fails its own proof of work") })
        #expect(index.tipHeight == 4)
    }

    @Test func blockFailingItsMerkleRootStopsWithFileAndOffset() throws {
        let f = try DamageFixture()
        let record = try f.records(0)[3]
        var bytes = try f.bytes(0)
        // Coinbase extranonce: header 80, tx count 1, version 4, marker and flag 2, input count 1,
        // outpoint 36, script length 1, height push 1, push length 1.
        bytes[record.payloadOffset + 127] ^= 0x01
        try f.write(0, bytes)
        let result = try f.cli()
        #expect(result.status == 1)
        #expect(result.stderr.contains("blk00000.dat at offset \(record.payloadOffset + 36)"), "\(result.stderr)")
        #expect(result.stderr.contains("merkle root"))
        // --no-verify reads past it.
        let unchecked = try f.cli(["--no-verify"])
        #expect(unchecked.status == 0)
    }

    @Test func xorDatOfTheWrongLengthIsAnError() throws {
        let f = try DamageFixture()
        try Data([1, 2, 3]).write(to: f.blocks.appendingPathComponent("xor.dat"))
        let result = try f.cli()
        #expect(result.status == 1)
        #expect(result.stderr.contains("xor.dat must hold exactly 8 bytes, found 3"))
    }

    @Test func unreadableBlockFileIsAnErrorNamingIt() throws {
        let f = try DamageFixture()
        let missing = f.blocks.appendingPathComponent("blk00099.dat")
        try FileManager.default.createSymbolicLink(atPath: missing.path, withDestinationPath: "/nonexistent/blk")
        let result = try f.cli()
        #expect(result.status == 1)
        #expect(result.stderr.contains("blk00099.dat: cannot open"))
    }

    @Test func missingDirectoryNamesThePathTried() throws {
        let result = try runCLI(["blocks", "--datadir", "/nonexistent/datadir", "--network", "testnet4"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent/datadir/testnet4/blocks"))
    }
}
