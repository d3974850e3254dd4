#if canImport(Glibc)
import Glibc
#endif
import BitcoinWire
import CMappingGuard

/// A Bitcoin Core `blocks/` directory: its `blk*.dat` files and the xor key.
public struct BlocksDirectory: Sendable {
    public let path: String
    public let network: Network
    public let xorKey: XorKey
    /// `blk%05d.dat` files present, by number, in ascending order.
    public let blockFiles: [Int]

    /// Locates blocks the way Core does: `datadir` plus the network's subfolder plus `blocks`, or
    /// `blocksdir` as given; with neither, `~/.bitcoin`.
    public static func locate(datadir: String?, blocksdir: String?, network: Network) throws(BlockFileError) -> BlocksDirectory {
        let path: String
        if let blocksdir {
            path = blocksdir
        } else {
            let base = datadir ?? ((getenv("HOME").map { String(cString: $0) } ?? "") + "/.bitcoin")
            let sub = network.dataDirectorySubfolder
            path = sub.isEmpty ? base + "/blocks" : base + "/" + sub + "/blocks"
        }
        return try BlocksDirectory(path: path, network: network)
    }

    public init(path: String, network: Network) throws(BlockFileError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw BlockFileError(path: path, "no blocks directory here: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw BlockFileError(path: path, "not a directory") }
        self.path = path
        self.network = network
        self.xorKey = try Self.readXorKey(directory: path)
        guard let dir = opendir(path) else { throw BlockFileError(path: path, "cannot list: \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        var numbers: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.count == 12, name.hasPrefix("blk"), name.hasSuffix(".dat"), let n = Int(name.dropFirst(3).prefix(5)) {
                numbers.append(n)
            }
        }
        blockFiles = numbers.sorted()
    }

    public func blockFilePath(_ number: Int) -> String { path + "/" + BlockFileFormat.blockFileName(number) }
    public func undoFilePath(_ number: Int) -> String { path + "/" + BlockFileFormat.undoFileName(number) }

    /// One block's bytes, read again from its file (obfuscation removed): for the few blocks
    /// looked at outside the block pass. A file that no longer holds the record where the header
    /// pass found it is an error naming it.
    public func blockBytes(at location: RecordLocation) throws(BlockFileError) -> [UInt8] {
        let path = blockFilePath(location.file)
        let file = try MappedFile(path: path)
        let payload = location.payloadOffset
        guard payload + location.size <= file.bytes.count else {
            throw BlockFileError(path: path, offset: location.offset, "the file changed since the header pass (it is shorter now)")
        }
        var bytes: [UInt8] = []
        xorKey.copyApplying(from: UnsafeRawBufferPointer(rebasing: file.bytes[payload..<(payload + location.size)]),
                            fileOffset: payload, into: &bytes)
        if file.wasCutShort { throw BlockFileError(path: path, offset: location.offset, "the file changed while it was read (it is shorter now)") }
        return bytes
    }

    /// `xor.dat`: absent means no obfuscation; anything but exactly 8 bytes is an error.
    static func readXorKey(directory: String) throws(BlockFileError) -> XorKey {
        let path = directory + "/" + XorKey.fileName
        var info = stat()
        if lstat(path, &info) != 0 && errno == ENOENT { return .none }
        // A regular file, opened without blocking (a named pipe in its place is refused).
        let (fd, _) = try ReadOnlyFile.open(path)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 16) }
        if n < 0 { throw BlockFileError(path: path, "cannot read: \(String(cString: strerror(errno)))") }
        guard n == XorKey.length, let key = XorKey(bytes: Array(buffer.prefix(8))) else {
            throw BlockFileError(path: path, "xor.dat must hold exactly 8 bytes, found \(n == 16 ? "more than 8" : String(n))")
        }
        return key
    }
}

/// A read-only memory mapping of a whole file, unmapped when released.
///
/// Guarded against the file shrinking under it (a blk file pruned or rewritten while read): a
/// read past the file's new end would raise SIGBUS and end the process; instead it reads zeros,
/// and ``wasCutShort`` says so. A reader checks it after reading a record and reports the file
/// changed (see `CMappingGuard`).
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    /// The mapping's slot with the SIGBUS guard (-1: unguarded, every slot taken).
    private var guardSlot: Int32 = -1

    /// Whether a read of this mapping found the file shorter than when it was mapped (it read
    /// zeros there): what was read from it since cannot be trusted.
    public var wasCutShort: Bool { vc_guard_faulted(guardSlot) != 0 }

    public init(path: String) throws(BlockFileError) {
        self.path = path
        // Only a regular file is mapped; a named pipe, device or directory is refused by name.
        let (fd, size) = try ReadOnlyFile.open(path)
        defer { close(fd) }
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw BlockFileError(path: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        if vc_guard_install() == 0 { guardSlot = vc_guard_register(address, size) }
    }

    /// Tells the kernel only the pages touched are wanted (no read-ahead): for a reader that
    /// reads some records of a file and not the bytes between them (an undo file, say).
    public func adviseRandom() {
        if let base = bytes.baseAddress { madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, MADV_RANDOM) }
    }

    /// Tells the kernel the pages will be read in order (more read-ahead).
    public func adviseSequential() {
        if let base = bytes.baseAddress { madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, MADV_SEQUENTIAL) }
    }

    /// Lets go of the pages holding `range` (bytes of the file): they leave this process's
    /// resident memory and stay in the page cache; touching them again maps them back from it
    /// (the mapping is read-only and file-backed, so another thread reading a neighbouring record
    /// in a shared page only takes a minor fault). A pass that is done with some blocks calls
    /// this so resident memory stays at the blocks in flight, not at the files mapped.
    public func releasePages(_ range: Range<Int>) {
        guard let base = bytes.baseAddress else { return }
        let page = Self.pageSize
        let start = max(0, range.lowerBound) / page * page
        let end = min(bytes.count, (range.upperBound + page - 1) / page * page)
        guard start < end else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Bytes of a file a reader is done with before it releases their pages (see `DoneSpans`).
    public static let releaseBytes = 8 << 20

    deinit {
        vc_guard_unregister(guardSlot)
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// The spans of mapped files a reader is done with, released a batch at a time
/// (`MappedFile.releasePages`): each release is a system call and a TLB shootdown on every core
/// running a thread of the process, so releasing per block or record cost more than reading it.
/// Resident memory stays within a few times `MappedFile.releaseBytes` per file being read. Not
/// thread-safe: its owner holds a lock.
public struct DoneSpans: Sendable {
    private var spans: [Int: Range<Int>] = [:]

    public init() {}

    /// Adds `range` of file `file` to what is done; returns the span to release now, once it
    /// reaches `MappedFile.releaseBytes` (and starts afresh).
    public mutating func add(_ range: Range<Int>, ofFile file: Int) -> Range<Int>? {
        let span = spans[file].map { min($0.lowerBound, range.lowerBound)..<max($0.upperBound, range.upperBound) } ?? range
        guard span.count >= MappedFile.releaseBytes else {
            spans[file] = span
            return nil
        }
        spans[file] = nil
        return span
    }

    /// Drops what is recorded of `file` (it is unmapped).
    public mutating func forget(_ file: Int) { spans[file] = nil }
}
