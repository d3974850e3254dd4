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

/// The header pass's result for one blk file, as kept between runs.
public struct ScannedFile: Sendable {
    public var identity: FileIdentity
    /// Where a scan of the grown file resumes (`RecordScanner.resumeOffset`).
    public var resumeOffset: Int
    public var incompleteTail: Int?
    public var records: [HeaderRecord]
    public var problems: [RecordProblem]
}

/// The persistent, incremental header index (`DIR/header-index.bin` of a state directory): per
/// blk file its identity and the records the header pass found, so that a restart or a follow
/// poll reads only what was appended since, plus files that appeared or changed.
///
/// Format (little-endian): "VCHI", format version, network magic, xor key, blocks directory
/// path, the files (number, identity, resume offset, tail, records as hash ‖ previous ‖ bits ‖
/// offset ‖ size, problems), then a SHA-256 of everything before it. A damaged index, one of
/// another format, network, xor key or directory, is reported and rebuilt, never trusted.
public struct HeaderIndexStore: Sendable {
    public static let fileName = "header-index.bin"
    static let tag: [UInt8] = Array("VCHI".utf8)
    static let formatVersion: UInt32 = 1
    /// One record: hash, previous hash (32 each), bits (4), offset (8), size (4).
    static let recordBytes = 80
    /// Larger than any message a problem has; a damaged length is refused before allocating.
    static let maxProblemMessage = 4096

    public let path: String
    public init(stateDirectory: String) { path = stateDirectory + "/" + Self.fileName }

    /// The saved files, or nil (with why) when there is no usable index.
    public func load(directory: BlocksDirectory) -> (files: [Int: ScannedFile]?, problem: String?) {
        guard FileManager.default.fileExists(atPath: path) else { return (nil, nil) }
        guard let data = FileManager.default.contents(atPath: path) else { return (nil, "\(path) cannot be read; rebuilding it") }
        let bytes = [UInt8](data)
        guard bytes.count >= 32 + 8 else { return (nil, "\(path) is damaged (too short); rebuilding it") }
        let body = bytes[0..<(bytes.count - 32)]
        guard Hashes.sha256(body).bytes == Array(bytes[(bytes.count - 32)...]) else {
            return (nil, "\(path) is damaged (checksum mismatch); rebuilding it")
        }
        return body.withUnsafeBytes { raw -> (files: [Int: ScannedFile]?, problem: String?) in
            var cursor = ByteCursor(raw)
            do throws(WireError) {
                guard Array(try cursor.readBytes(4)) == Self.tag, try cursor.readLE(UInt32.self) == Self.formatVersion else {
                    return (nil, "\(path) is not a header index of this format; rebuilding it")
                }
                let magic = try cursor.readLE(UInt32.self)
                let xor = Array(try cursor.readBytes(8))
                let directoryPath = String(decoding: try cursor.readVarBytes(), as: UTF8.self)
                guard magic == directory.network.magicValue, xor == directory.xorKey.bytes, directoryPath == directory.path else {
                    return (nil, "\(path) indexes another blocks directory, network or xor key; rebuilding it")
                }
                let fileCount = try cursor.readCount(of: "file", minItemSize: 48)
                var files: [Int: ScannedFile] = [:]
                for _ in 0..<fileCount {
                    let number = Int(try cursor.readLE(UInt32.self))
                    let identity = FileIdentity(device: try cursor.readLE(UInt64.self), inode: try cursor.readLE(UInt64.self),
                                                size: Int(try cursor.readLE(UInt64.self)), modifiedNanoseconds: try cursor.readLE(Int64.self))
                    let resume = Int(try cursor.readLE(UInt64.self))
                    let tail = try cursor.readLE(Int64.self)
                    let recordCount = try cursor.readCount(of: "record", minItemSize: Self.recordBytes)
                    var records: [HeaderRecord] = []
                    records.reserveCapacity(recordCount)
                    for _ in 0..<recordCount {
                        let hash = try cursor.readHash(as: BlockHash.self), previous = try cursor.readHash(as: BlockHash.self)
                        let bits = try cursor.readLE(UInt32.self)
                        let offset = Int(try cursor.readLE(UInt64.self)), size = Int(try cursor.readLE(UInt32.self))
                        records.append(HeaderRecord(hash: hash, previous: previous, bits: bits, location: RecordLocation(file: number, offset: offset, size: size)))
                    }
                    let problemCount = try cursor.readCount(of: "problem", minItemSize: 9)
                    var problems: [RecordProblem] = []
                    for _ in 0..<problemCount {
                        let offset = Int(try cursor.readLE(UInt64.self))
                        let message = try cursor.readVarBytes()
                        guard message.count <= Self.maxProblemMessage else { throw WireError(.invalid("problem message too long"), at: cursor.position) }
                        problems.append(RecordProblem(path: directory.blockFilePath(number), offset: offset, message: String(decoding: message, as: UTF8.self)))
                    }
                    files[number] = ScannedFile(identity: identity, resumeOffset: resume, incompleteTail: tail < 0 ? nil : Int(tail),
                                                records: records, problems: problems)
                }
                guard cursor.isAtEnd else { return (nil, "\(path) has trailing bytes; rebuilding it") }
                return (files, nil)
            } catch {
                return (nil, "\(path) is damaged (\(error)); rebuilding it")
            }
        }
    }

    /// Bytes of the index buffered before they are hashed and written: memory stays this size
    /// whatever the chain's length (a mainnet index is about 80 MB).
    static let flushBytes = 1 << 20

    /// Writes the index atomically (temporary file, fsync, rename), a buffer at a time.
    public func save(_ files: [Int: ScannedFile], directory: BlocksDirectory) throws(BlockFileError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BlockFileError(path: temporary, "cannot create the header index: \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temporary) }
        }
        var hasher = SHA256Hasher()
        var writer = ByteWriter(capacity: Self.flushBytes + 4096)
        func put(_ bytes: [UInt8]) throws(BlockFileError) {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
                guard n > 0 else { throw BlockFileError(path: temporary, "cannot write the header index: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        func flush() throws(BlockFileError) {
            hasher.update(writer.bytes)
            try put(writer.bytes)
            writer.removeAll()
        }
        writer.write(Self.tag)
        writer.writeLE(Self.formatVersion)
        writer.writeLE(directory.network.magicValue)
        writer.write(directory.xorKey.bytes)
        writer.writeVarBytes(Array(directory.path.utf8))
        writer.writeCompactSize(files.count)
        for (number, file) in files.sorted(by: { $0.key < $1.key }) {
            writer.writeLE(UInt32(number))
            writer.writeLE(file.identity.device)
            writer.writeLE(file.identity.inode)
            writer.writeLE(UInt64(file.identity.size))
            writer.writeLE(file.identity.modifiedNanoseconds)
            writer.writeLE(UInt64(file.resumeOffset))
            writer.writeLE(Int64(file.incompleteTail ?? -1))
            writer.writeCompactSize(file.records.count)
            for record in file.records {
                writer.write(record.hash)
                writer.write(record.previous)
                writer.writeLE(record.bits)
                writer.writeLE(UInt64(record.location.offset))
                writer.writeLE(UInt32(record.location.size))
                if writer.count >= Self.flushBytes { try flush() }
            }
            writer.writeCompactSize(file.problems.count)
            for problem in file.problems {
                writer.writeLE(UInt64(problem.offset))
                writer.writeVarBytes(Array(problem.message.utf8.prefix(Self.maxProblemMessage)))
            }
        }
        try flush()
        try put(hasher.finalize().bytes)
        guard fsync(fd) == 0 else { throw BlockFileError(path: temporary, "cannot write the header index: fsync: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else { throw BlockFileError(path: path, "cannot replace: \(String(cString: strerror(errno)))") }
        ok = true
    }
}
