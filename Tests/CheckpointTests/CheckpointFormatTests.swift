import BlockFiles
import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import Checkpoints
import ConsensusHashing

@Suite struct CheckpointFormatTests {
    static let someBlock = BlockHash(displayHex: String(repeating: "ab", count: 32))!
    static let someConsensusHash = ConsensusDigest(hex: String(repeating: "cd", count: 16))!

    func sample() throws -> (header: CheckpointHeader, payload: [UInt8], file: [UInt8]) {
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 % 251 &* ($0 / 1000)) }
        let header = CheckpointHeader(machine: "names", machineVersion: 1, network: "regtest", firstBlock: 1, height: 1234,
                                      blockHash: Self.someBlock, consensusHash: Self.someConsensusHash,
                                      payloadSHA256: Hex.encode(Hashes.sha256(payload).bytes), payloadBytes: payload.count)
        let file = try payload.withUnsafeBytes { try CheckpointFile.encode(header: header, payload: $0) }
        return (header, payload, file)
    }

    func decode(_ file: [UInt8]) throws(CheckpointError) -> (CheckpointHeader, [UInt8]) {
        let result = file.withUnsafeBytes { raw -> Result<(CheckpointHeader, [UInt8]), CheckpointError> in
            do throws(CheckpointError) {
                let (header, end) = try CheckpointFile.readHeader(raw)
                return .success((header, try CheckpointFile.readPayload(raw, header: header, frameEnd: end)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    @Test func roundTripAndStockLZ4Tool() throws {
        let (header, payload, file) = try sample()
        let (decodedHeader, decodedPayload) = try decode(file)
        #expect(decodedHeader == header)
        #expect(decodedPayload == payload)
        #expect(file.count < payload.count / 2)
        // The stock lz4 tool verifies the file and unpacks the payload (skipping our header frame).
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.vc.lz4").path
        try CheckpointFile.writeAtomically(file, to: path)
        #expect(try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["lz4", "-t", path]).status == 0)
        let out = dir.appendingPathComponent("payload").path
        #expect(try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["lz4", "-d", "-f", path, out]).status == 0)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))) == payload)
    }

    @Test func everyKindOfDamageIsDetected() throws {
        let (_, _, file) = try sample()
        let headerEnd = try file.withUnsafeBytes { try CheckpointFile.readHeader($0).frameEnd }
        func damaged(_ change: (inout [UInt8]) -> Void) -> String? {
            var copy = file
            change(&copy)
            do throws(CheckpointError) { _ = try decode(copy); return nil } catch { return error.description }
        }
        #expect(damaged { $0.removeLast($0.count / 2) }?.contains("ends early") == true)
        #expect(damaged { $0.removeLast($0.count - 10) }?.contains("truncated") == true)
        #expect(damaged { $0[40] ^= 0x01 }?.contains("header checksum mismatch") == true)         // inside the JSON
        #expect(damaged { $0[headerEnd + 4] ^= 0x40 }?.contains("LZ4 frame damaged") == true)    // LZ4 frame descriptor
        #expect(damaged { $0[$0.count - 100] ^= 0x01 } != nil)                                  // compressed payload
        #expect(damaged { $0[$0.count - 2] ^= 0x01 }?.contains("LZ4") == true)                  // content checksum
        #expect(damaged { $0[0] ^= 0x01 }?.contains("not a virtualchain checkpoint") == true)
    }

    @Test func futureFormatIsRefused() throws {
        var (header, payload, _) = try sample()
        header.format = 99
        let file = try payload.withUnsafeBytes { try CheckpointFile.encode(header: header, payload: $0) }
        #expect(throws: CheckpointError.self) { _ = try decode(file) }
        do throws(CheckpointError) { _ = try decode(file) } catch { #expect(error.description.contains("format version 99 is newer")) }
    }

    /// Found while writing the fuzz targets: a header claiming a huge payload must be refused
    /// before anything that large is allocated.
    @Test func absurdPayloadSizeIsRefusedBeforeAllocating() throws {
        var (header, payload, _) = try sample()
        header.payloadBytes = 60 << 30
        let file = try payload.withUnsafeBytes { try CheckpointFile.encode(header: header, payload: $0) }
        do throws(CheckpointError) { _ = try decode(file); Issue.record("accepted") } catch {
            #expect(error.description.contains("impossible for"), "\(error)")
        }
    }

    /// A checkpoint streamed from a file (chunk by chunk, several chunks) reads back as the same
    /// payload with the same header as one encoded in memory; only the first `payloadBytes` of
    /// the file count; a failed stream leaves the old file and no temporary.
    @Test func streamedFromAFileReadsBackLikeOneEncodedInMemory() throws {
        let (header, payload, _) = try sample()
        let big = payload + payload + payload + payload + [UInt8](repeating: 7, count: CheckpointFile.streamChunkBytes)
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("state.sqlite")
        try Data(big + [1, 2, 3]).write(to: source)  // trailing bytes beyond payloadBytes are not read
        let path = dir.appendingPathComponent("c.vc.lz4").path
        var partial = header
        partial.payloadSHA256 = ""
        try CheckpointFile.writeAtomically(header: partial, payloadPath: source.path, payloadBytes: big.count, to: path)
        let (decodedHeader, decodedPayload) = try decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(decodedPayload == big)
        #expect(decodedHeader.payloadBytes == big.count)
        #expect(decodedHeader.payloadSHA256 == Hex.encode(Hashes.sha256(big).bytes))
        #expect(try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["lz4", "-t", path]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: CheckpointError.self) {
            try CheckpointFile.writeAtomically(header: partial, payloadPath: source.path, payloadBytes: big.count, to: path, faults: WriteFaults(failAfterBytes: 50_000))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["c.vc.lz4", "state.sqlite"])
        // A payload file shorter than announced is an error, not a short checkpoint.
        #expect(throws: CheckpointError.self) {
            try CheckpointFile.writeAtomically(header: partial, payloadPath: source.path, payloadBytes: big.count + 10, to: path)
        }
    }

    /// A payload of several LZ4 frames (a streamed checkpoint's), compressed one or several
    /// frames at a time: the same file either way, read back whole by us and by the stock lz4
    /// tool; a damaged middle frame, a file cut at a frame's end, and bytes after the last frame
    /// are each refused.
    @Test func aPayloadOfSeveralFramesReadsBackAndItsDamageIsDetected() throws {
        let frame = CheckpointFile.frameBytes
        // Two and a half frames: compressible, not uniform.
        let payload = (0..<(frame * 5 / 2)).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 31 ^ ($0 >> 12)) }
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("state.sqlite")
        try Data(payload).write(to: source)
        let header = CheckpointHeader(machine: "names", machineVersion: 1, network: "regtest", firstBlock: 1, height: 7,
                                      blockHash: Self.someBlock, consensusHash: Self.someConsensusHash,
                                      payloadSHA256: "", payloadBytes: payload.count)
        var files: [[UInt8]] = []
        for threads in [1, 2, 3, 8] {
            let path = dir.appendingPathComponent("c\(threads).vc.lz4").path
            try CheckpointFile.writeAtomically(header: header, payloadPath: source.path, payloadBytes: payload.count, to: path, threads: threads)
            files.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        #expect(Set(files).count == 1, "the number of threads changes the file")
        let file = files[0]
        #expect(try decode(file).1 == payload)
        let path = dir.appendingPathComponent("c1.vc.lz4").path
        #expect(try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["lz4", "-t", path]).status == 0)
        let out = dir.appendingPathComponent("payload").path
        #expect(try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["lz4", "-d", "-f", path, out]).status == 0)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))) == payload)

        // Where the frames start: each begins with LZ4's frame magic.
        let magic: [UInt8] = [0x04, 0x22, 0x4D, 0x18]
        let headerEnd = try file.withUnsafeBytes { try CheckpointFile.readHeader($0).frameEnd }
        let starts = (headerEnd..<(file.count - 3)).filter { Array(file[$0..<($0 + 4)]) == magic }
        try #require(starts.count >= 3 && starts[0] == headerEnd)
        func damaged(_ change: (inout [UInt8]) -> Void) -> String? {
            var copy = file
            change(&copy)
            do throws(CheckpointError) { _ = try decode(copy); return nil } catch { return error.description }
        }
        #expect(damaged { $0[(starts[1] + starts[2]) / 2] ^= 0x20 } != nil)                       // inside the middle frame
        #expect(damaged { $0.removeLast($0.count - starts[2]) }?.contains("header says") == true)  // cut where a frame ends
        #expect(damaged { $0 += [1, 2, 3, 4, 5, 6, 7, 8] }?.contains("LZ4 frame damaged") == true)  // garbage after the last
    }

    /// A restore decodes the newest usable checkpoint straight into a file, verifying as it
    /// streams (several LZ4 blocks and frames, read a chunk at a time): the file is the payload
    /// exactly, and exists only once all of it verified. A newest checkpoint damaged in its last
    /// frame, found out only after most of it was written, leaves nothing of itself: the older
    /// one is restored, and with none usable there is no file and no temporary one. A checkpoint
    /// objected to is skipped without being decoded.
    @Test func aRestoreStreamsTheNewestUsableCheckpointIntoAFile() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = CheckpointStore(stateDirectory: dir.path)
        let (olderHeader, olderPayload, _) = try sample()
        var older = olderHeader
        older.height = 5
        try store.write(header: older, payload: olderPayload, retention: .init(keep: 10, keepEvery: 1))
        let frame = CheckpointFile.frameBytes
        let payload = (0..<(frame * 5 / 2)).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 31 ^ ($0 >> 12)) }
        let source = dir.appendingPathComponent("source")
        try Data(payload).write(to: source)
        let descriptor = open(source.path, O_RDONLY)
        defer { close(descriptor) }
        let newestHeader = CheckpointHeader(machine: "names", machineVersion: 1, network: "regtest", firstBlock: 1, height: 7,
                                            blockHash: Self.someBlock, consensusHash: Self.someConsensusHash,
                                            payloadSHA256: "", payloadBytes: payload.count)
        let newest = try store.write(header: newestHeader, payloadDescriptor: descriptor, payloadPath: source.path, payloadBytes: payload.count,
                                     retention: .init(keep: 10, keepEvery: 1), threads: 2)
        let destination = dir.appendingPathComponent("restored").path
        func restored() -> [UInt8]? { (try? Data(contentsOf: URL(fileURLWithPath: destination))).map { [UInt8]($0) } }

        let first = try store.newestUsable(restoringTo: destination) { _ in nil }
        #expect(first.found?.header?.height == 7 && first.skipped.isEmpty)
        #expect(restored() == payload)
        #expect(try store.verifyAll().map(\.ok) == [true, true])

        // Objected to: skipped unread, the older one restored.
        let objected = try store.newestUsable(restoringTo: destination) { $0.height == 7 ? "not wanted" : nil }
        #expect(objected.found?.header?.height == 5 && objected.skipped.map(\.problem) == ["not wanted"])
        #expect(restored() == olderPayload)

        // Damaged near its end: the older one, and nothing of the damaged one's image.
        try FileManager.default.removeItem(atPath: destination)
        var file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))
        file[file.count - 40] ^= 0x01
        try Data(file).write(to: URL(fileURLWithPath: newest))
        let fallback = try store.newestUsable(restoringTo: destination) { _ in nil }
        #expect(fallback.found?.header?.height == 5)
        #expect(fallback.skipped.map(\.path) == [newest] && fallback.skipped[0].problem != nil)
        #expect(restored() == olderPayload)
        #expect(try store.verifyAll().map(\.ok) == [true, false])

        // None usable: no file, no temporary file.
        try FileManager.default.removeItem(atPath: destination)
        let none = try store.newestUsable(restoringTo: destination) { $0.height == 5 ? "not wanted" : nil }
        #expect(none.found == nil && none.skipped.count == 2)
        #expect(restored() == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".tmp") }.isEmpty)
    }

    @Test func failedWriteLeavesTheOldFileAndNoTemporary() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.vc.lz4").path
        try CheckpointFile.writeAtomically([1, 2, 3], to: path)
        #expect(throws: CheckpointError.self) { try CheckpointFile.writeAtomically([UInt8](repeating: 9, count: 5000), to: path, faults: WriteFaults(failAfterBytes: 1000)) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["c.vc.lz4"])
    }

    @Test func retentionKeepsTheNewestAndOnePerBucket() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = CheckpointStore(stateDirectory: dir.path)
        let retention = CheckpointStore.Retention(keep: 3, keepEvery: 1000)
        for height in stride(from: 100, through: 3500, by: 100) {
            let header = CheckpointHeader(machine: "m", machineVersion: 1, network: "regtest", firstBlock: 1, height: height, blockHash: Self.someBlock, consensusHash: Self.someConsensusHash,
                                          payloadSHA256: Hex.encode(Hashes.sha256([UInt8(height % 256)]).bytes), payloadBytes: 1)
            try store.write(header: header, payload: [UInt8(height % 256)], retention: retention)
        }
        let heights = try store.paths().map { store.inspect($0, payload: false).entry.header!.height }
        #expect(heights == [900, 1900, 2900, 3300, 3400, 3500])
    }
}
