import BitcoinWire
import BlockFiles
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What identifies a blk file's contents without reading them: device, inode, size and
/// modification time. Bitcoin Core only appends to a blk file (into its pre-allocated zeros, so
/// the size may stay the same while the time changes) and deletes whole files when pruning.
public struct FileIdentity: Equatable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int
    public var modifiedNanoseconds: Int64

    public init(device: UInt64, inode: UInt64, size: Int, modifiedNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
    }

    /// The identity of the file at `path` now, or nil if it cannot be stat'ed.
    public static func of(_ path: String) -> FileIdentity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int(info.st_size),
                            modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    /// The same file, possibly grown by appends since (not replaced, not shrunk).
    func mayHaveGrownFrom(_ earlier: FileIdentity) -> Bool {
        device == earlier.device && inode == earlier.inode && size >= earlier.size
    }
}

/// What the header pass knows of one blk file besides its records: enough to tell, on the next
/// look, whether the file is unchanged, was appended to (and where to resume), or was replaced.
public struct FileScanState: Sendable {
    public var identity: FileIdentity
    /// Where a scan of the grown file resumes (`RecordScanner.resumeOffset`).
    public var resumeOffset: Int
    public var incompleteTail: Int?
    public var problems: [RecordProblem]
}

/// The header pass's result for one blk file: its state and the records found in it.
public struct ScannedFile: Sendable {
    public var state: FileScanState
    public var records: [HeaderRecord]
}

/// One file's part of an index write: its state now and the records to add to what the index
/// already holds for it (all of its records when the index is written afresh).
struct FileUpdate {
    var number: Int
    var state: FileScanState
    var records: ArraySlice<BlockEntry>
}

/// The persistent, incremental header index (`DIR/header-index.bin` of a state directory): per
/// blk file its identity and the records the header pass found, so that a restart or a follow
/// poll reads only what was appended since, plus files that appeared or changed.
///
/// The file is a log, so that a follow poll that finds a new block writes that block's record
/// and not the whole index again: "VCHI" and the format version, then segments, each a length,
/// a payload and the payload's SHA-256. The first segment names what is indexed (network magic,
/// xor key, blocks directory path); each later one updates one blk file (identity, resume
/// offset, tail, problems: replaced; records as hash ‖ previous ‖ bits ‖ offset ‖ size:
/// appended). Loading replays the segments in order.
///
/// A damaged index, one of another format, network, xor key or directory, is reported and
/// rebuilt, never trusted. The one exception is a last segment cut short or failing its
/// checksum, which is what a crash while appending leaves: it is dropped (and cut off the file),
/// since the segments before it are an earlier index, complete and verified, and the files it
/// described are looked at again.
public struct HeaderIndexStore: Sendable {
    public static let fileName = "header-index.bin"
    static let tag: [UInt8] = Array("VCHI".utf8)
    static let formatVersion: UInt32 = 2
    /// Tag and format version.
    static let prefixBytes = 8
    /// A segment's length field and checksum.
    static let segmentOverhead = 4 + 32
    /// One record: hash, previous hash (32 each), bits (4), offset (8), size (4).
    static let recordBytes = 80
    /// Larger than any message a problem has; a damaged length is refused before allocating.
    static let maxProblemMessage = 4096
    /// Segments appended since the index was last written afresh, beyond which a load asks for
    /// it to be written afresh: loading stays a read of about the records' own bytes.
    static let maxAppendedSegments = 10_000

    public let path: String
    public init(stateDirectory: String) { path = stateDirectory + "/" + Self.fileName }

    /// What `load` found.
    public struct Loaded {
        /// The saved files, or nil when there is no usable index.
        public var files: [Int: ScannedFile]?
        /// Why the index was not used, or what was dropped from it.
        public var problem: String?
        /// The index should be written afresh (too many appended segments).
        public var wantsRewrite = false
        /// Length of the index file as loaded (after dropping a torn last segment).
        public var length = 0
    }

    /// The saved files, or nil (with why) when there is no usable index. A torn last segment is
    /// cut off the file.
    public func load(directory: BlocksDirectory) -> Loaded {
        guard FileManager.default.fileExists(atPath: path) else { return Loaded() }
        let mapped: MappedFile
        do { mapped = try MappedFile(path: path) } catch { return Loaded(problem: "\(path) cannot be read (\(error)); rebuilding it") }
        var loaded = Self.parse(mapped.bytes, path: path, directory: directory)
        if loaded.files != nil, loaded.length < mapped.bytes.count, truncate(path, off_t(loaded.length)) != 0 {
            loaded = Loaded(problem: "\(path) ends in an incomplete update that cannot be cut off (\(String(cString: strerror(errno)))); rebuilding it")
        }
        return loaded
    }

    /// Reads an index image (`path` only names it in messages): the files it describes, or nil
    /// and why not; `length` is where the verified segments end (before a torn last one).
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String, directory: BlocksDirectory) -> Loaded {
        func damaged(_ why: String) -> Loaded { Loaded(problem: "\(path) is damaged (\(why)); rebuilding it") }
        guard bytes.count >= Self.prefixBytes else { return damaged("too short") }
        guard Array(bytes[0..<4]) == Self.tag, bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == Self.formatVersion.littleEndian else {
            return Loaded(problem: "\(path) is not a header index of this format; rebuilding it")
        }
        var offset = Self.prefixBytes
        var files: [Int: ScannedFile] = [:]
        var segments = 0
        var note: String?
        while offset < bytes.count {
            let remaining = bytes.count - offset
            let length = remaining >= 4 ? Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) : Int.max
            let fits = length <= remaining - Self.segmentOverhead
            let payload = fits ? UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 4 + length)]) : UnsafeRawBufferPointer(rebasing: bytes[0..<0])
            let verified = fits && Hashes.sha256(payload).withUnsafeBytes { digest in
                digest.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[(offset + 4 + length)..<(offset + Self.segmentOverhead + length)]))
            }
            if !verified {
                let isLast = !fits || offset + Self.segmentOverhead + length == bytes.count
                guard isLast, segments > 0 else { return damaged(fits ? "checksum mismatch at offset \(offset)" : "segment at offset \(offset) runs past the end") }
                // A torn append: keep the verified index before it (`load` cuts the rest off).
                note = "\(path) ended in an incomplete update (an interrupted write?) at offset \(offset); dropped it, the blk files it described are looked at again"
                break
            }
            do throws(WireError) {
                var cursor = ByteCursor(payload)
                if segments == 0 {
                    let magic = try cursor.readLE(UInt32.self)
                    let xor = Array(try cursor.readBytes(8))
                    let directoryPath = String(decoding: try cursor.readVarBytes(), as: UTF8.self)
                    guard magic == directory.network.magicValue, xor == directory.xorKey.bytes, directoryPath == directory.path else {
                        return Loaded(problem: "\(path) indexes another blocks directory, network or xor key; rebuilding it")
                    }
                } else {
                    try Self.apply(&cursor, to: &files, directory: directory)
                }
                guard cursor.isAtEnd else { return damaged("trailing bytes in the segment at offset \(offset)") }
            } catch {
                return damaged("\(error) in the segment at offset \(offset)")
            }
            segments += 1
            offset += Self.segmentOverhead + length
        }
        guard segments > 0 else { return damaged("no header") }
        return Loaded(files: files, problem: note, wantsRewrite: segments - 1 > files.count + Self.maxAppendedSegments, length: offset)
    }

    /// Applies one file's segment: its state replaced, its records appended.
    private static func apply(_ cursor: inout ByteCursor, to files: inout [Int: ScannedFile], directory: BlocksDirectory) throws(WireError) {
        let number = Int(try cursor.readLE(UInt32.self))
        let identity = FileIdentity(device: try cursor.readLE(UInt64.self), inode: try cursor.readLE(UInt64.self),
                                    size: Int(try cursor.readLE(UInt64.self)), modifiedNanoseconds: try cursor.readLE(Int64.self))
        let resume = Int(try cursor.readLE(UInt64.self))
        let tail = try cursor.readLE(Int64.self)
        let problemCount = try cursor.readCount(of: "problem", minItemSize: 9)
        var problems: [RecordProblem] = []
        for _ in 0..<problemCount {
            let offset = Int(try cursor.readLE(UInt64.self))
            let message = try cursor.readVarBytes()
            guard message.count <= Self.maxProblemMessage else { throw WireError(.invalid("problem message too long"), at: cursor.position) }
            problems.append(RecordProblem(path: directory.blockFilePath(number), offset: offset, message: String(decoding: message, as: UTF8.self)))
        }
        let state = FileScanState(identity: identity, resumeOffset: resume, incompleteTail: tail < 0 ? nil : Int(tail), problems: problems)
        let recordCount = try cursor.readCount(of: "record", minItemSize: Self.recordBytes)
        var file = files[number] ?? ScannedFile(state: state, records: [])
        file.state = state
        file.records.reserveCapacity(file.records.count + recordCount)
        for _ in 0..<recordCount {
            let hash = try cursor.readHash(as: BlockHash.self), previous = try cursor.readHash(as: BlockHash.self)
            let bits = try cursor.readLE(UInt32.self)
            let offset = Int(try cursor.readLE(UInt64.self)), size = Int(try cursor.readLE(UInt32.self))
            file.records.append(HeaderRecord(hash: hash, previous: previous, bits: bits, location: RecordLocation(file: number, offset: offset, size: size)))
        }
        files[number] = file
    }

    /// Bytes of the index buffered before they are written: memory stays this size whatever the
    /// chain's length (a mainnet index is about 80 MB).
    static let flushBytes = 1 << 20

    /// Writes the index afresh, atomically (`AtomicFile`: temporary file, fsync, rename, fsync of
    /// the directory), a buffer at a time; returns the file's length.
    @discardableResult
    func rewrite(_ updates: [FileUpdate], directory: BlocksDirectory) throws(BlockFileError) -> Int {
        let file = try AtomicFile(path: path)
        var output = SegmentOutput(path: file.temporary) { (bytes) throws(BlockFileError) in try file.write(bytes) }
        output.writer.write(Self.emptyIndex(of: directory))
        for update in updates { try output.segment(Self.fileHeader(update), records: update.records) }
        try output.flush()
        try file.commit()
        return output.written
    }

    /// Appends `updates` to an index file `length` bytes long (as this process last left it);
    /// returns the new length, or nil when the file is not that (gone, replaced, written by
    /// someone else): then it must be written afresh.
    func append(_ updates: [FileUpdate], expectedLength length: Int) throws(BlockFileError) -> Int? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) == length, lseek(fd, off_t(length), SEEK_SET) == off_t(length) else { return nil }
        var output = SegmentOutput(path: path) { (bytes) throws(BlockFileError) in
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                guard n > 0 else { throw BlockFileError(path: path, "cannot write the header index: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        for update in updates { try output.segment(Self.fileHeader(update), records: update.records) }
        try output.flush()
        guard fsync(fd) == 0 else { throw BlockFileError(path: path, "cannot write the header index: fsync: \(String(cString: strerror(errno)))") }
        return length + output.written
    }

    /// The bytes an index of `directory` without files holds: the tag, the format version and
    /// the segment naming what is indexed. Every index starts with them.
    public static func emptyIndex(of directory: BlocksDirectory) -> [UInt8] {
        var header = ByteWriter()
        header.writeLE(directory.network.magicValue)
        header.write(directory.xorKey.bytes)
        header.writeVarBytes(Array(directory.path.utf8))
        var writer = ByteWriter()
        writer.write(tag)
        writer.writeLE(formatVersion)
        writer.writeLE(UInt32(header.count))
        writer.write(header.bytes)
        writer.write(Hashes.sha256(header.bytes).bytes)
        return writer.bytes
    }

    /// A file segment's fields before its records (the record count last).
    private static func fileHeader(_ update: FileUpdate) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeLE(UInt32(update.number))
        writer.writeLE(update.state.identity.device)
        writer.writeLE(update.state.identity.inode)
        writer.writeLE(UInt64(update.state.identity.size))
        writer.writeLE(update.state.identity.modifiedNanoseconds)
        writer.writeLE(UInt64(update.state.resumeOffset))
        writer.writeLE(Int64(update.state.incompleteTail ?? -1))
        writer.writeCompactSize(update.state.problems.count)
        for problem in update.state.problems {
            writer.writeLE(UInt64(problem.offset))
            writer.writeVarBytes(Array(problem.message.utf8.prefix(Self.maxProblemMessage)))
        }
        writer.writeCompactSize(update.records.count)
        return writer.bytes
    }

    /// Segments streamed to `sink` through a buffer of `flushBytes`.
    private struct SegmentOutput {
        /// The file written, for messages.
        let path: String
        let sink: (UnsafeRawBufferPointer) throws(BlockFileError) -> Void
        var writer = ByteWriter(capacity: HeaderIndexStore.flushBytes + 4096)
        var written = 0

        init(path: String, sink: @escaping (UnsafeRawBufferPointer) throws(BlockFileError) -> Void) {
            self.path = path
            self.sink = sink
        }

        /// One segment: `head` then `records`, with its length first and its checksum after.
        mutating func segment(_ head: [UInt8], records: ArraySlice<BlockEntry>) throws(BlockFileError) {
            let length = head.count + records.count * HeaderIndexStore.recordBytes
            guard length <= Int(UInt32.max) else { throw BlockFileError(path: path, "a header index segment would exceed 4 GiB") }
            var hasher = SHA256Hasher()
            writer.writeLE(UInt32(length))
            writer.write(head)
            hasher.update(head)
            for record in records {
                let start = writer.count
                writer.write(record.hash)
                writer.write(record.parent)
                writer.writeLE(record.bits)
                writer.writeLE(UInt64(record.location.offset))
                writer.writeLE(UInt32(record.location.size))
                writer.bytes.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[start...])) }
                if writer.count >= HeaderIndexStore.flushBytes { try flush() }
            }
            writer.write(hasher.finalize().bytes)
        }

        mutating func flush() throws(BlockFileError) {
            let result = writer.bytes.withUnsafeBytes { raw -> Result<Void, BlockFileError> in
                do throws(BlockFileError) { try sink(raw); return .success(()) } catch { return .failure(error) }
            }
            try result.get()
            written += writer.count
            writer.removeAll()
        }
    }
}
