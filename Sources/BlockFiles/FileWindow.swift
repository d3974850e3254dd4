import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file read a window at a time with `pread`, for passes that need a few bytes here and there:
/// the header pass reads 88 bytes of each block record, an undo index 17 of each undo record.
///
/// A mapping costs those passes more than the bytes: every first touch of a page is a fault that
/// maps it and its neighbours (the kernel maps 16 pages around each fault, whatever
/// `madvise` says), and the pages must be unmapped again; scanning a directory of large blocks
/// spent most of its time in page-table work. A read copies the bytes asked for and nothing
/// else. A file that shrinks while it is read ends early instead of faulting (`SIGBUS`), and a
/// read that fails is an error naming the file and offset.
public final class FileWindow {
    public let path: String
    /// The file's size when it was opened.
    public let count: Int

    private enum Source {
        case descriptor(Int32)
        case memory(UnsafeRawBufferPointer)
    }
    private let source: Source
    private let buffer: UnsafeMutableRawBufferPointer
    /// The file bytes `buffer` holds: `filled` bytes from offset `start`.
    private var start = 0, filled = 0

    /// Bytes read at least per refill: a dense pass (small records) reads ahead to serve several
    /// requests from one read; a sparse one (large records, of which it needs the first bytes)
    /// reads little more than it asks for. At most ``capacity``.
    public var readSize: Int {
        didSet { readSize = min(max(readSize, 1), Self.capacity) }
    }

    /// Largest window, and so the most bytes one request may ask for.
    public static let capacity = 64 << 10
    /// `readSize` for a pass whose requests fall several to a window of ``capacity``.
    public static let denseReadSize = capacity
    /// `readSize` for a pass that needs a record's first bytes only: a block record's 8-byte
    /// header and 80-byte block header, with room to spare, and no more (the body is not read).
    public static let sparseReadSize = 256

    public init(path: String, readSize: Int = FileWindow.denseReadSize) throws(BlockFileError) {
        self.path = path
        let (fd, size) = try ReadOnlyFile.open(path)
        count = size
        source = .descriptor(fd)
        buffer = .allocate(byteCount: Self.capacity, alignment: 64)
        self.readSize = min(max(readSize, 1), Self.capacity)
    }

    /// Bytes already in memory read as the file at `path` would be, window by window (fuzzing
    /// and tests: the same refills as a file's); they must outlive the window.
    public init(borrowing bytes: UnsafeRawBufferPointer, path: String, readSize: Int = FileWindow.denseReadSize) {
        self.path = path
        count = bytes.count
        source = .memory(bytes)
        buffer = .allocate(byteCount: Self.capacity, alignment: 64)
        self.readSize = min(max(readSize, 1), Self.capacity)
    }

    deinit {
        if case let .descriptor(fd) = source { close(fd) }
        buffer.deallocate()
    }

    /// Tells the kernel whether to read ahead of this window's reads (`POSIX_FADV_RANDOM` when
    /// not: a sparse pass over a cold file must not pull the bodies between its reads from disk).
    public func adviseReadAhead(_ wanted: Bool) {
        guard case let .descriptor(fd) = source else { return }
        _ = posix_fadvise(fd, 0, 0, wanted ? POSIX_FADV_NORMAL : POSIX_FADV_RANDOM)
    }

    /// The `length` bytes at `offset` (at most ``capacity``), valid until the next call; fewer
    /// where the file ends first (or is found shorter than it was: it shrank meanwhile).
    public func bytes(at offset: Int, count length: Int) throws(BlockFileError) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && length >= 0 && length <= Self.capacity, "a window request outside 0...\(Self.capacity) bytes")
        let end = min(offset + length, count)
        guard offset < end else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        if offset < start || end > start + filled { try refill(at: offset, atLeast: end - offset) }
        let available = min(end, start + filled) - offset
        return UnsafeRawBufferPointer(start: buffer.baseAddress! + (offset - start), count: max(0, available))
    }

    private func refill(at offset: Int, atLeast wanted: Int) throws(BlockFileError) {
        let size = min(max(readSize, wanted), Self.capacity, count - offset)
        start = offset
        filled = 0
        switch source {
        case let .memory(bytes):
            buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: size)
            filled = size
        case let .descriptor(fd):
            // Fewer where the file shrank since it was opened: it ends there now.
            filled = try ReadOnlyFile.read(fd, path: path, into: buffer.baseAddress!, count: size, at: offset)
        }
    }

    /// The byte at `offset` (nil past the end).
    public func byte(at offset: Int) throws(BlockFileError) -> UInt8? {
        let bytes = try bytes(at: offset, count: 1)
        return bytes.isEmpty ? nil : bytes[0]
    }
}
