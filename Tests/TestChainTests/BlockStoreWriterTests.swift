import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import TestChain

@Suite struct BlockStoreWriterTests {
    @Test func rotatesPreallocatesAndTruncatesLikeCore() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = try BlockStoreWriter(directory: dir.path, network: .regtest, xorKey: .none, maxFileSize: 4096)
        let block = [UInt8](repeating: 0x5a, count: 1000)
        var positions: [RecordPosition] = []
        for height in 0..<6 {
            positions.append(try block.withUnsafeBytes { try writer.writeBlock($0, height: height) })
        }
        writer.close()
        // Four 1008-byte records fit below 4096; the fifth starts blk00001.
        #expect(positions.map(\.file) == [0, 0, 0, 0, 1, 1])
        #expect(positions.map(\.offset) == [0, 1008, 2016, 3024, 0, 1008])
        let size = { (name: String) in
            (try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)[.size] as! NSNumber).intValue
        }
        #expect(try size("blk00000.dat") == 4032)  // finished file: truncated to its data
        #expect(try size("blk00001.dat") == 4096)  // newest file: still pre-allocated
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("xor.dat").path))
    }

    @Test func undoRecordHasChecksumOfPreviousHashAndUndo() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = XorKey(bytes: [9, 8, 7, 6, 5, 4, 3, 2])!
        let writer = try BlockStoreWriter(directory: dir.path, network: .regtest, xorKey: key)
        let previous = BlockHash(Hashes.sha256([1, 2, 3]))
        let undo: [UInt8] = [0x01, 0x01, 0x02, 0x00, 0x09, 0x00] + [UInt8](repeating: 0x33, count: 20)
        _ = try [UInt8](repeating: 1, count: 100).withUnsafeBytes { try writer.writeBlock($0, height: 1) }
        try writer.writeUndo(undo, previousBlockHash: previous, blockFile: 0, height: 1)
        writer.close()
        var raw = [UInt8](try Data(contentsOf: dir.appendingPathComponent("rev00000.dat")))
        #expect(raw.count == BlockStoreWriter.undoFileChunkSize)
        let recordLength = 8 + undo.count + 32
        #expect(raw[recordLength...].allSatisfy { $0 == 0 })  // padding is never obfuscated
        var record = Array(raw[..<recordLength])
        key.apply(to: &record, fileOffset: 0)
        raw = record
        #expect(Array(raw[0..<4]) == Network.regtest.magic)
        #expect(Array(raw[8..<(8 + undo.count)]) == undo)
        #expect(Array(raw[(8 + undo.count)...]) == Hashes.dsha256(previous.bytes + undo).bytes)
        #expect(try Data(contentsOf: dir.appendingPathComponent("xor.dat")) == Data(key.bytes))
    }
}
