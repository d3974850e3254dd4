import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opening and reading a file with system calls, for readers that do not map it: the header
/// pass's windows (``FileWindow``) and checkpoints, read as they stream.
public enum ReadOnlyFile {
    /// Opens `path` for reading: its descriptor (the caller closes it) and its size now. What is
    /// not a regular file (a directory in its place) is refused, as reading it would be.
    public static func open(_ path: String) throws(BlockFileError) -> (descriptor: Int32, size: Int) {
        // O_NONBLOCK: opening a named pipe must not wait for a writer (it is refused below);
        // reads of a regular file ignore the flag.
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if descriptor < 0 { throw BlockFileError(path: path, "cannot open: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw BlockFileError(path: path, "cannot stat: \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw BlockFileError(path: path, "cannot read: it is \(describeType(info.st_mode)), not a regular file")
        }
        return (descriptor, Int(info.st_size))
    }

    /// What kind of file a mode says it is, for an error message.
    public static func describeType(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a named pipe"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "a regular file"
        }
    }

    /// The whole of a regular file of at most `limit` bytes.
    public static func readWhole(path: String, limit: Int) throws(BlockFileError) -> [UInt8] {
        let (descriptor, size) = try open(path)
        defer { close(descriptor) }
        guard size <= limit else { throw BlockFileError(path: path, "\(size) bytes, more than the \(limit) expected at most") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 1)
        defer { buffer.deallocate() }
        let read = try Self.read(descriptor, path: path, into: buffer.baseAddress!, count: size, at: 0)
        return Array(buffer.prefix(read))
    }

    /// Reads `count` bytes at `offset` of the file open as `descriptor` into `buffer`, with as
    /// many reads as the kernel needs (an interrupted one is retried); returns how many it read:
    /// fewer only where the file ends first. `path` names the file in an error.
    public static func read(_ descriptor: Int32, path: String, into buffer: UnsafeMutableRawPointer, count: Int,
                            at offset: Int) throws(BlockFileError) -> Int {
        var done = 0
        while done < count {
            let n = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw BlockFileError(path: path, offset: offset + done, "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            done += n
        }
        return done
    }
}
