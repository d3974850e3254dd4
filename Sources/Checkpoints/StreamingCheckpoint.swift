import BitcoinWire
import BlockFiles
import CLZ4
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension CheckpointFile {
    /// Bytes read and hashed at a time in the first pass over a streamed checkpoint's payload.
    public static let streamChunkBytes = 1 << 20

    /// Writes a checkpoint whose payload is the first `payloadBytes` bytes of the file at
    /// `payloadPath` (a database file nobody writes meanwhile), without holding it in memory: a
    /// first pass hashes it (the header carries its SHA-256), a second compresses it into LZ4
    /// frames of ``frameBytes``, `threads` frames at a time. Atomic as ``writeAtomically(_:to:)``:
    /// temporary file, fsync, rename, fsync of the directory; a failure leaves any file at `path`
    /// as it was.
    public static func writeAtomically(header: CheckpointHeader, payloadPath: String, payloadBytes: Int, to path: String,
                                       threads: Int = 1) throws(CheckpointError) {
        try reportingFailures(at: path) {
            try stream(header: header, payloadPath: payloadPath, payloadBytes: payloadBytes, to: path, threads: threads, faults: .none)
        }
    }

    /// As ``writeAtomically(header:payloadPath:payloadBytes:to:threads:)``, with faults a test injects.
    package static func writeAtomically(header: CheckpointHeader, payloadPath: String, payloadBytes: Int, to path: String,
                                        threads: Int = 1, faults: WriteFaults) throws(CheckpointError) {
        try reportingFailures(at: path) {
            try stream(header: header, payloadPath: payloadPath, payloadBytes: payloadBytes, to: path, threads: threads, faults: faults)
        }
    }

    /// As ``writeAtomically(header:payloadPath:payloadBytes:to:threads:)``, reading the payload
    /// through `payloadDescriptor` (the file `payloadPath` names; the descriptor stays open). For
    /// a database that a connection of this process holds open: opening and closing a descriptor
    /// of our own would drop that connection's locks.
    public static func writeAtomically(header: CheckpointHeader, payloadDescriptor: Int32, payloadPath: String, payloadBytes: Int,
                                       to path: String, threads: Int = 1) throws(CheckpointError) {
        try writeAtomically(header: header, payloadDescriptor: payloadDescriptor, payloadPath: payloadPath, payloadBytes: payloadBytes,
                            to: path, threads: threads, faults: .none)
    }

    /// As ``writeAtomically(header:payloadDescriptor:payloadPath:payloadBytes:to:threads:)``, with
    /// faults a test injects.
    package static func writeAtomically(header: CheckpointHeader, payloadDescriptor: Int32, payloadPath: String, payloadBytes: Int,
                                        to path: String, threads: Int = 1, faults: WriteFaults) throws(CheckpointError) {
        try reportingFailures(at: path) {
            try stream(header: header, source: payloadDescriptor, payloadPath: payloadPath, payloadBytes: payloadBytes, to: path,
                       threads: threads, faults: faults)
        }
    }

    /// Runs a streamed write, any failure that is not already a checkpoint error named with `path`.
    private static func reportingFailures(at path: String, _ body: () throws -> Void) throws(CheckpointError) {
        do {
            try body()
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.fileSystem("\(path): \(error)")
        }
    }

    private static func stream(header: CheckpointHeader, payloadPath: String, payloadBytes: Int, to path: String,
                               threads: Int, faults: WriteFaults) throws {
        let source = open(payloadPath, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw CheckpointError.fileSystem("\(payloadPath): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(source) }
        try stream(header: header, source: source, payloadPath: payloadPath, payloadBytes: payloadBytes, to: path,
                   threads: threads, faults: faults)
    }

    private static func stream(header: CheckpointHeader, source: Int32, payloadPath: String, payloadBytes: Int, to path: String,
                               threads: Int, faults: WriteFaults) throws {
        /// Reads `count` payload bytes at `offset` into `buffer`.
        func read(_ buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
            let done = try fileSystem { () throws(BlockFileError) in
                try ReadOnlyFile.read(source, path: payloadPath, into: buffer, count: count, at: offset)
            }
            if done < count { throw CheckpointError.fileSystem("\(payloadPath): read failed at offset \(offset + done): the file ended early") }
        }

        // First pass: the header carries the payload's SHA-256.
        var hasher = SHA256Hasher()
        do {
            var chunk = [UInt8](repeating: 0, count: streamChunkBytes)
            var offset = 0
            while offset < payloadBytes {
                let n = min(streamChunkBytes, payloadBytes - offset)
                try chunk.withUnsafeMutableBytes { raw in
                    try read(raw.baseAddress!, count: n, at: offset)
                    hasher.update(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                }
                offset += n
            }
        }
        var complete = header
        complete.payloadBytes = payloadBytes
        complete.payloadSHA256 = Hex.encode(hasher.finalize().bytes)

        let file = try fileSystem { () throws(BlockFileError) in try AtomicFile(path: path, faults: faults) }
        func put(_ bytes: UnsafeRawBufferPointer) throws { try fileSystem { () throws(BlockFileError) in try file.write(bytes) } }
        try headerFrame(for: complete).withUnsafeBytes { raw in try put(raw) }

        // Second pass: the payload as LZ4 frames of `frameBytes` each, compressed `threads` at a
        // time (each frame stands alone, so they compress in parallel), written in order.
        let lanes = Swift.max(1, threads)
        var preferences = payloadPreferences(payloadBytes: frameBytes)
        let bound = LZ4F_compressFrameBound(frameBytes, &preferences)
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: lanes * frameBytes, alignment: 64)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: lanes * bound, alignment: 64)
        let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: lanes)
        defer { input.deallocate(); output.deallocate(); results.deallocate() }
        var offset = 0
        var paused = false
        repeat {
            // An empty payload is still one (empty) frame.
            let sizes = (0..<lanes).map { Swift.max(0, Swift.min(frameBytes, payloadBytes - offset - $0 * frameBytes)) }
            let used = Swift.max(1, sizes.filter { $0 > 0 }.count)
            for lane in 0..<used where sizes[lane] > 0 { try read(input.baseAddress! + lane * frameBytes, count: sizes[lane], at: offset + lane * frameBytes) }
            let lanesOfRound = FrameLanes(input: input, output: output, results: results, sizes: sizes, bound: bound)
            if used > 1 { DispatchQueue.concurrentPerform(iterations: used) { lanesOfRound.compress($0) } } else { lanesOfRound.compress(0) }
            for lane in 0..<used {
                if LZ4F_isError(results[lane]) != 0 {
                    throw CheckpointError.compressionFailed("LZ4 compression failed: \(String(cString: LZ4F_getErrorName(results[lane])))")
                }
                try put(UnsafeRawBufferPointer(rebasing: output[(lane * bound)..<(lane * bound + results[lane])]))
            }
            offset += sizes.reduce(0, +)
            if let pause = faults.pauseMidwayMilliseconds, !paused, offset >= payloadBytes / 2 {
                paused = true
                usleep(UInt32(pause) * 1000)
            }
        } while offset < payloadBytes
        try fileSystem { () throws(BlockFileError) in try file.commit() }
    }

    /// One round of frames compressed side by side: lane `i` compresses `sizes[i]` bytes at
    /// `input + i * frameBytes` into `output + i * bound`, its result (size or LZ4 error code) in
    /// `results[i]`. Each lane touches only its own parts of the buffers.
    private struct FrameLanes: @unchecked Sendable {
        let input: UnsafeMutableRawBufferPointer
        let output: UnsafeMutableRawBufferPointer
        let results: UnsafeMutableBufferPointer<Int>
        let sizes: [Int]
        let bound: Int

        func compress(_ lane: Int) {
            var preferences = payloadPreferences(payloadBytes: sizes[lane])
            results[lane] = LZ4F_compressFrame(output.baseAddress! + lane * bound, bound, input.baseAddress! + lane * frameBytes, sizes[lane], &preferences)
        }
    }

    /// Payload bytes per LZ4 frame of a streamed checkpoint: one block of the largest size LZ4
    /// frames allow. Frames that stand alone compress in parallel (`threads`), and a reader
    /// (ours, or the stock `lz4` tool) decodes concatenated frames as one stream; memory stays
    /// `threads` times this and LZ4's bound on it.
    public static let frameBytes = 4 << 20
}
