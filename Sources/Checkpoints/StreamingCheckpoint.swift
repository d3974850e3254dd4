import BitcoinWire
import BlockFiles
import CLZ4
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension CheckpointFile {
    /// Bytes read, compressed and written at a time when a checkpoint is streamed from a file:
    /// memory stays this size (and LZ4's bound on it), whatever the payload's size.
    public static let streamChunkBytes = 1 << 20

    /// Writes a checkpoint whose payload is the first `payloadBytes` bytes of the file at
    /// `payloadPath` (a database file nobody writes meanwhile), without holding it in memory: a
    /// first pass hashes it (the header carries its SHA-256), a second compresses it a chunk at a
    /// time into the file. Atomic as ``writeAtomically(_:to:failAfter:pauseMidwayMilliseconds:)``:
    /// temporary file, fsync, rename, fsync of the directory; a failure leaves any file at `path`
    /// as it was. `failAfter` and `pauseMidwayMilliseconds` are the same test hooks.
    public static func writeAtomically(header: CheckpointHeader, payloadPath: String, payloadBytes: Int, to path: String,
                                       failAfter: Int? = nil, pauseMidwayMilliseconds: Int? = nil) throws(CheckpointError) {
        do {
            try stream(header: header, payloadPath: payloadPath, payloadBytes: payloadBytes, to: path, failAfter: failAfter,
                       pauseMidwayMilliseconds: pauseMidwayMilliseconds)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.fileSystem("\(path): \(error)")
        }
    }

    /// As ``writeAtomically(header:payloadPath:payloadBytes:to:failAfter:pauseMidwayMilliseconds:)``,
    /// reading the payload through `payloadDescriptor` (the file `payloadPath` names; the
    /// descriptor stays open). For a database that a connection of this process holds open:
    /// opening and closing a descriptor of our own would drop that connection's locks.
    public static func writeAtomically(header: CheckpointHeader, payloadDescriptor: Int32, payloadPath: String, payloadBytes: Int,
                                       to path: String, failAfter: Int? = nil, pauseMidwayMilliseconds: Int? = nil) throws(CheckpointError) {
        do {
            try stream(header: header, source: payloadDescriptor, payloadPath: payloadPath, payloadBytes: payloadBytes, to: path,
                       failAfter: failAfter, pauseMidwayMilliseconds: pauseMidwayMilliseconds)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.fileSystem("\(path): \(error)")
        }
    }

    private static func stream(header: CheckpointHeader, payloadPath: String, payloadBytes: Int, to path: String,
                               failAfter: Int?, pauseMidwayMilliseconds: Int?) throws {
        let source = open(payloadPath, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw CheckpointError.fileSystem("\(payloadPath): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(source) }
        try stream(header: header, source: source, payloadPath: payloadPath, payloadBytes: payloadBytes, to: path,
                   failAfter: failAfter, pauseMidwayMilliseconds: pauseMidwayMilliseconds)
    }

    private static func stream(header: CheckpointHeader, source: Int32, payloadPath: String, payloadBytes: Int, to path: String,
                               failAfter: Int?, pauseMidwayMilliseconds: Int?) throws {
        var chunk = [UInt8](repeating: 0, count: streamChunkBytes)
        /// Reads the payload chunk by chunk; `body` gets each (the last may be shorter).
        func eachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
            var offset = 0
            while offset < payloadBytes {
                let wanted = min(streamChunkBytes, payloadBytes - offset)
                let n = chunk.withUnsafeMutableBytes { pread(source, $0.baseAddress!, wanted, off_t(offset)) }
                guard n > 0 else {
                    throw CheckpointError.fileSystem("\(payloadPath): read failed at offset \(offset): \(n < 0 ? String(cString: strerror(errno)) : "the file ended early")")
                }
                try chunk.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
                offset += n
            }
        }

        var hasher = SHA256Hasher()
        try eachChunk { hasher.update($0) }
        var complete = header
        complete.payloadBytes = payloadBytes
        complete.payloadSHA256 = Hex.encode(hasher.finalize().bytes)

        let file = try fileSystem { () throws(BlockFileError) in try AtomicFile(path: path, failAfter: failAfter) }
        func put(_ bytes: UnsafeRawBufferPointer) throws { try fileSystem { () throws(BlockFileError) in try file.write(bytes) } }
        var paused = false

        let headerFrame = headerFrame(for: complete)
        try headerFrame.withUnsafeBytes { raw in try put(raw) }

        var context: OpaquePointer?
        let created = LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else { throw CheckpointError.compressionFailed("cannot create an LZ4 compression context") }
        defer { LZ4F_freeCompressionContext(context) }
        var preferences = payloadPreferences(payloadBytes: payloadBytes)
        let capacity = Swift.max(LZ4F_compressBound(streamChunkBytes, &preferences), Int(LZ4F_HEADER_SIZE_MAX))
        var output = [UInt8](repeating: 0, count: capacity)
        func check(_ result: Int) throws -> Int {
            if LZ4F_isError(result) != 0 { throw CheckpointError.compressionFailed("LZ4 compression failed: \(String(cString: LZ4F_getErrorName(result)))") }
            return result
        }
        let begun = try check(output.withUnsafeMutableBytes { LZ4F_compressBegin(context, $0.baseAddress, capacity, &preferences) })
        try output.withUnsafeBytes { raw in try put(UnsafeRawBufferPointer(rebasing: raw[0..<begun])) }
        var streamed = 0
        try eachChunk { piece in
            let n = try check(output.withUnsafeMutableBytes { LZ4F_compressUpdate(context, $0.baseAddress, capacity, piece.baseAddress, piece.count, nil) })
            try output.withUnsafeBytes { raw in try put(UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
            streamed += piece.count
            if let pause = pauseMidwayMilliseconds, !paused, streamed >= payloadBytes / 2 {
                paused = true
                usleep(UInt32(pause) * 1000)  // test hook: a window to kill the writer mid-file
            }
        }
        let ended = try check(output.withUnsafeMutableBytes { LZ4F_compressEnd(context, $0.baseAddress, capacity, nil) })
        try output.withUnsafeBytes { raw in try put(UnsafeRawBufferPointer(rebasing: raw[0..<ended])) }
        try fileSystem { () throws(BlockFileError) in try file.commit() }
    }
}
