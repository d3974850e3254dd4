#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BitcoinWire
import BlockFiles

/// Where a record was written: file number and the offset of its 8-byte record header.
public struct RecordPosition: Hashable, Sendable {
    public var file: Int
    public var offset: Int
    public init(file: Int, offset: Int) { self.file = file; self.offset = offset }
}

/// Writes a `blocks/` directory the way Bitcoin Core's `BlockManager` does: `blk%05d.dat` records
/// in arrival order, files rotated before reaching the maximum size, pre-allocated with zeros in
/// chunks (16 MiB for blocks, 1 MiB for undo), truncated to their data when finalized, and every
/// written byte XORed with the `xor.dat` key (pre-allocated zeros are left as they are).
public final class BlockStoreWriter {
    /// Core's `BLOCKFILE_CHUNK_SIZE`.
    public static let blockFileChunkSize = 16 << 20
    /// Core's `UNDOFILE_CHUNK_SIZE`.
    public static let undoFileChunkSize = 1 << 20
    /// Core's `MAX_BLOCKFILE_SIZE`.
    public static let defaultMaxFileSize = 128 << 20
    /// Record header: magic and LE32 size (`STORAGE_HEADER_BYTES`).
    public static let recordHeaderSize = BlockFileFormat.recordHeaderSize
    /// Undo record overhead: header plus the 32-byte checksum (`UNDO_DATA_DISK_OVERHEAD`).
    public static let undoOverhead = 40

    /// Per-file bookkeeping, Core's `CBlockFileInfo`.
    public struct FileInfo: Sendable {
        public var blockBytes = 0
        public var undoBytes = 0
        public var blocks = 0
        public var heightLast = 0
    }

    public let directory: String
    public let network: Network
    public let xorKey: XorKey
    public let maxFileSize: Int
    public let blockChunkSize: Int
    public let undoChunkSize: Int
    public private(set) var files: [FileInfo] = [FileInfo()]

    private var currentFile = 0
    /// Highest height whose undo data went to the current file (`BlockfileCursor::undo_height`).
    private var undoHeight = 0
    private var descriptors: [String: Int32] = [:]

    /// - Parameters:
    ///   - directory: the `blocks/` directory to write into.
    ///   - network: the network whose magic frames every record.
    ///   - xorKey: the obfuscation key every written byte is XORed with (Core's `xor.dat`).
    ///   - maxFileSize: rotate block files before they reach this size (Core: 128 MiB).
    ///     Pre-allocation chunks shrink to fit when it is smaller than Core's chunk size.
    public init(directory: String, network: Network, xorKey: XorKey, maxFileSize: Int = BlockStoreWriter.defaultMaxFileSize) throws {
        self.directory = directory
        self.network = network
        self.xorKey = xorKey
        self.maxFileSize = maxFileSize
        self.blockChunkSize = min(Self.blockFileChunkSize, maxFileSize)
        self.undoChunkSize = min(Self.undoFileChunkSize, maxFileSize)
        if !xorKey.isIdentity {
            try writeWholeFile(path: directory + "/" + XorKey.fileName, bytes: xorKey.bytes)
        }
    }

    deinit { close() }

    public static func blockFileName(_ number: Int) -> String { BlockFileFormat.blockFileName(number) }
    public static func undoFileName(_ number: Int) -> String { BlockFileFormat.undoFileName(number) }

    /// Stores a block (Core's `FindNextBlockPos` + `WriteBlock`) and returns where its record starts.
    @discardableResult
    public func writeBlock(_ block: UnsafeRawBufferPointer, height: Int) throws -> RecordPosition {
        let addSize = block.count + Self.recordHeaderSize
        var file = currentFile
        var finalizeUndo = false
        while files[file].blockBytes + addSize >= maxFileSize && files[file].blockBytes > 0 {
            // The undo file is finalized with it only when undo writes have kept up.
            finalizeUndo = files[file].heightLast == undoHeight
            file = files.count
            files.append(FileInfo())
        }
        if file != currentFile {
            let previous = currentFile
            currentFile = file
            undoHeight = 0
            try finalizeBlockFile(previous)
            if finalizeUndo { try finalizeUndoFile(previous) }
        }
        let offset = files[file].blockBytes
        files[file].blockBytes += addSize
        files[file].blocks += 1
        files[file].heightLast = max(files[file].heightLast, height)
        let path = directory + "/" + Self.blockFileName(file)
        try allocate(path: path, position: offset, addSize: addSize, chunk: blockChunkSize)
        var record = [UInt8]()
        record.reserveCapacity(addSize)
        record.append(contentsOf: network.magic)
        withUnsafeBytes(of: UInt32(block.count).littleEndian) { record.append(contentsOf: $0) }
        record.append(contentsOf: block)
        try writeObfuscated(path: path, bytes: &record, offset: offset)
        return RecordPosition(file: file, offset: offset)
    }

    /// Stores a block's undo data (Core's `WriteBlockUndo`) in the rev file numbered like the block's
    /// file: `magic ‖ LE32 size ‖ undo ‖ dSHA256(previous block hash ‖ undo)`.
    @discardableResult
    public func writeUndo(_ undo: [UInt8], previousBlockHash: BlockHash, blockFile: Int, height: Int) throws -> RecordPosition {
        let addSize = undo.count + Self.undoOverhead
        let offset = files[blockFile].undoBytes
        files[blockFile].undoBytes += addSize
        let path = directory + "/" + Self.undoFileName(blockFile)
        try allocate(path: path, position: offset, addSize: addSize, chunk: undoChunkSize)
        var record = [UInt8]()
        record.reserveCapacity(addSize)
        record.append(contentsOf: network.magic)
        withUnsafeBytes(of: UInt32(undo.count).littleEndian) { record.append(contentsOf: $0) }
        record.append(contentsOf: undo)
        var hasher = SHA256Hasher()
        previousBlockHash.withUnsafeBytes { hasher.update($0) }
        hasher.update(undo)
        hasher.finalizeDouble().withUnsafeBytes { record.append(contentsOf: $0) }
        try writeObfuscated(path: path, bytes: &record, offset: offset)
        // Undo data arrives in height order while blocks arrive in any order: an older file's undo
        // file is finished once the undo of its highest block is written.
        if blockFile < currentFile && height == files[blockFile].heightLast {
            try finalizeUndoFile(blockFile)
        } else if blockFile == currentFile && height > undoHeight {
            undoHeight = height
        }
        return RecordPosition(file: blockFile, offset: offset)
    }

    /// Closes every file (pre-allocated space of the newest files stays, as when Core shuts down).
    public func close() {
        for (_, fd) in descriptors { _ = Glibc.close(fd) }
        descriptors.removeAll()
    }

    // MARK: - File plumbing

    private func descriptor(_ path: String) throws -> Int32 {
        if let fd = descriptors[path] { return fd }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw BlockFileError(path: path, "cannot open for writing: \(String(cString: strerror(errno)))") }
        descriptors[path] = fd
        return fd
    }

    /// Core's `FlatFileSeq::Allocate`: grow the file to the next chunk boundary with zeros.
    private func allocate(path: String, position: Int, addSize: Int, chunk: Int) throws {
        let oldChunks = (position + chunk - 1) / chunk
        let newChunks = (position + addSize + chunk - 1) / chunk
        guard newChunks > oldChunks else { return }
        let fd = try descriptor(path)
        let newSize = newChunks * chunk
        if ftruncate(fd, off_t(newSize)) != 0 {
            throw BlockFileError(path: path, offset: position, "cannot pre-allocate: \(String(cString: strerror(errno)))")
        }
    }

    private func writeObfuscated(path: String, bytes: inout [UInt8], offset: Int) throws {
        xorKey.apply(to: &bytes, fileOffset: offset)
        let fd = try descriptor(path)
        var written = 0
        try bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let n = pwrite(fd, buffer.baseAddress! + written, buffer.count - written, off_t(offset + written))
                if n <= 0 { throw BlockFileError(path: path, offset: offset + written, "write failed: \(String(cString: strerror(errno)))") }
                written += n
            }
        }
    }

    /// Core's `FlatFileSeq::Flush(finalize: true)`: truncate to the data actually written.
    private func finalizeBlockFile(_ file: Int) throws {
        let path = directory + "/" + Self.blockFileName(file)
        try truncate(path: path, to: files[file].blockBytes)
    }

    private func finalizeUndoFile(_ file: Int) throws {
        let path = directory + "/" + Self.undoFileName(file)
        try truncate(path: path, to: files[file].undoBytes)
    }

    private func truncate(path: String, to size: Int) throws {
        let fd = try descriptor(path)
        if ftruncate(fd, off_t(size)) != 0 {
            throw BlockFileError(path: path, offset: size, "cannot truncate: \(String(cString: strerror(errno)))")
        }
    }

    private func writeWholeFile(path: String, bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw BlockFileError(path: path, "cannot create: \(String(cString: strerror(errno)))") }
        defer { _ = Glibc.close(fd) }
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count { throw BlockFileError(path: path, "short write") }
    }
}
