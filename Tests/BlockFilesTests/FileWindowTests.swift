import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles

/// Reading a file a window at a time (the header pass and undo indexing): the bytes asked for
/// whatever the window size and wherever the refills fall; a file that shrinks while it is read,
/// or is no file, is an error naming it.
@Suite struct FileWindowTests {
    func file(_ bytes: [UInt8]) throws -> (URL, URL) {
        let dir = try TestPaths.temporaryDirectory()
        let url = dir.appendingPathComponent("blk00000.dat")
        try Data(bytes).write(to: url)
        return (dir, url)
    }

    @Test(arguments: [1, 7, FileWindow.sparseReadSize, FileWindow.denseReadSize])
    func everyRequestGetsTheFilesBytes(readSize: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let content = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let (dir, url) = try file(content)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The bytes a borrowing window reads must stay put: a copy that outlives it.
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: content.count, alignment: 8)
        defer { memory.deallocate() }
        memory.copyBytes(from: content)
        let windows = [try FileWindow(path: url.path, readSize: readSize), FileWindow(borrowing: UnsafeRawBufferPointer(memory), path: url.path, readSize: readSize)]
        for window in windows {
            #expect(window.count == content.count)
            for _ in 0..<2_000 {
                let offset = Int.random(in: 0...content.count, using: &generator)
                let length = Int.random(in: 0...min(FileWindow.capacity, 300), using: &generator) * (Bool.random(using: &generator) ? 1 : 200)
                let wanted = min(length, FileWindow.capacity)
                let bytes = try window.bytes(at: offset, count: wanted)
                #expect(Array(bytes) == Array(content[offset..<min(offset + wanted, content.count)]), "\(wanted) bytes at \(offset)")
            }
        }
    }

    /// Records found through a small window equal those found through a large one, with
    /// garbage, a foreign magic and pre-allocation zeros in between (resynchronising across
    /// refills).
    @Test func recordsAreTheSameThroughEveryWindowSize() throws {
        let magic = Network.regtest.magicValue
        func record(_ size: Int, fill: UInt8) -> [UInt8] {
            withUnsafeBytes(of: magic.littleEndian) { Array($0) } + withUnsafeBytes(of: UInt32(size).littleEndian) { Array($0) }
                + [UInt8](repeating: fill, count: size)
        }
        var content: [UInt8] = []
        for i in 0..<40 { content += record(81 + i * 997, fill: UInt8(i)) }
        content += withUnsafeBytes(of: Network.mainnet.magicValue.littleEndian) { Array($0) } + [1, 2, 3, 4]  // a foreign record
        content += [UInt8](repeating: 0xAB, count: 100_003)                                                  // and garbage
        for i in 0..<5 { content += record(70_000 + i, fill: 9) }
        content += withUnsafeBytes(of: magic.littleEndian) { Array($0) } + [0xFF, 0xFF, 0xFF, 0x7F]          // an impossible size
        content += record(81, fill: 3)
        content += [UInt8](repeating: 0, count: 200_000)                              // pre-allocated
        let (dir, url) = try file(content)
        defer { try? FileManager.default.removeItem(at: dir) }
        func scan(_ readSize: Int) throws -> (records: [RecordLocation], problems: [Int], foreign: Network?) {
            var scanner = RecordScanner(file: try FileWindow(path: url.path, readSize: readSize), number: 0, magic: magic, xorKey: .none, isNewest: false)
            var records: [RecordLocation] = []
            while let r = try scanner.next() { records.append(r) }
            return (records, scanner.problems.map(\.offset), scanner.foreignNetwork)
        }
        let dense = try scan(FileWindow.denseReadSize)
        #expect(dense.records.count == 46 && dense.problems.count == 2 && dense.foreign == .mainnet, "\(dense.records.count) records, problems at \(dense.problems)")
        for readSize in [1, 8, 13, FileWindow.sparseReadSize] {
            let other = try scan(readSize)
            #expect(other.records == dense.records && other.problems == dense.problems && other.foreign == dense.foreign, "read size \(readSize)")
        }
    }

    @Test func aFileThatShrinksWhileReadIsAnErrorNamingIt() throws {
        let magic = Network.regtest.magicValue
        var content: [UInt8] = []
        for _ in 0..<4 {
            content += withUnsafeBytes(of: magic.littleEndian) { Array($0) } + withUnsafeBytes(of: UInt32(50_000).littleEndian) { Array($0) }
            content += [UInt8](repeating: 1, count: 50_000)
        }
        let (dir, url) = try file(content)
        defer { try? FileManager.default.removeItem(at: dir) }
        var scanner = RecordScanner(file: try FileWindow(path: url.path, readSize: FileWindow.sparseReadSize), number: 0, magic: magic,
                                    xorKey: .none, isNewest: false)
        _ = try scanner.next()
        try FileHandle(forWritingTo: url).truncate(atOffset: 60_000)
        #expect {
            while try scanner.next() != nil {}
        } throws: { error in
            "\(error)".contains(url.path) && "\(error)".contains("ended while being read")
        }
        #expect(throws: BlockFileError.self) { try FileWindow(path: dir.path) }  // a directory is no file
    }
}

/// The file bitcoind writes into its reserved zeros: a record whose end is still zeros, with
/// nothing but zeros after it, is one being written (left for a later look); a complete block
/// that happens to end in zeros (a segwit coinbase-only block ends in 36) is a record.
@Suite struct ReservedZerosTests {
    func scan(_ payloadTail: [UInt8], reserved: Int, kind: RecordScanner.Kind = .block) throws -> (records: Int, incompleteTail: Int?) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vc-reserved-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let magic = Network.regtest.magicValue
        let payload = [UInt8](repeating: 0xab, count: 200) + payloadTail
        var bytes: [UInt8] = []
        for _ in 0..<2 {
            withUnsafeBytes(of: magic.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { bytes += $0 }
            bytes += payload + (kind == .undo ? [UInt8](repeating: 0x5c, count: 32) : [])
        }
        if kind == .undo { bytes.replaceSubrange((bytes.count - 32)..<bytes.count, with: [UInt8](repeating: payloadTail.isEmpty ? 0 : 0x5c, count: 32)) }
        bytes += [UInt8](repeating: 0, count: reserved)
        try Data(bytes).write(to: url)
        var scanner = RecordScanner(file: try FileWindow(path: url.path), number: 0, magic: magic, xorKey: .none, isNewest: true, kind: kind)
        var records = 0
        while try scanner.next() != nil { records += 1 }
        #expect(scanner.problems.isEmpty, "\(scanner.problems)")
        return (records, scanner.incompleteTail)
    }

    @Test func aCompleteBlockEndingInZerosIsARecord() throws {
        let coinbaseOnlyEnd = [UInt8](repeating: 0, count: 36)
        #expect(try scan(coinbaseOnlyEnd, reserved: 4096) == (2, nil))
        #expect(try scan(coinbaseOnlyEnd, reserved: 0) == (2, nil))
    }

    @Test func aBlockStillBeingWrittenIntoReservedZerosIsNotYetARecord() throws {
        let result = try scan([UInt8](repeating: 0, count: 500), reserved: 4096)
        #expect(result.records == 1 && result.incompleteTail != nil)
    }

    @Test func anUndoRecordWithoutItsChecksumIsNotYetARecord() throws {
        let result = try scan([], reserved: 1024, kind: .undo)
        #expect(result.records == 1 && result.incompleteTail != nil)
    }

    @Test func aRecordHeaderCutInReservedZerosIsTheIncompleteTail() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vc-reserved-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        var bytes: [UInt8] = []
        withUnsafeBytes(of: Network.regtest.magicValue.littleEndian) { bytes += $0 }
        bytes += [0x10, 0x27] + [UInt8](repeating: 0, count: 2000)  // the size's first two bytes written
        try Data(bytes).write(to: url)
        var scanner = RecordScanner(file: try FileWindow(path: url.path), number: 0, magic: Network.regtest.magicValue, xorKey: .none, isNewest: true)
        #expect(try scanner.next() == nil)
        #expect(scanner.problems.isEmpty && scanner.incompleteTail == 0, "\(scanner.problems)")
    }
}
