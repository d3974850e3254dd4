import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file written under a temporary name and moved into place only once it is complete and on
/// disk (temporary file, fsync, rename, fsync of the directory): a failure at any point leaves
/// whatever was at `path` as it was, and no temporary file. Checkpoints and the header index are
/// written this way.
public final class AtomicFile {
    public let path: String
    public let temporary: String
    private let fd: Int32
    /// Writing fails, as on a full disk, once this many bytes are written (``WriteFaults``; no
    /// limit outside the tests).
    private let limit: Int
    public private(set) var bytesWritten = 0
    private var committed = false

    public convenience init(path: String) throws(BlockFileError) {
        try self.init(path: path, faults: .none)
    }

    /// As ``init(path:)``, with faults a test injects.
    package init(path: String, faults: WriteFaults) throws(BlockFileError) {
        self.path = path
        temporary = Self.temporaryPath(for: path)
        limit = faults.failAfterBytes ?? Int.max
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BlockFileError(path: temporary, "cannot create: \(String(cString: strerror(errno)))") }
    }

    /// Where the file for `path` is written before it is moved into place (a process killed
    /// meanwhile leaves it: `.NAME.tmp` beside `path`).
    public static func temporaryPath(for path: String) -> String {
        (path as NSString).deletingLastPathComponent + "/." + (path as NSString).lastPathComponent + ".tmp"
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(BlockFileError) {
        var done = 0
        while done < bytes.count {
            if bytesWritten >= limit { throw BlockFileError(path: temporary, "write failed: No space left on device (injected)") }
            let n = Glibc.write(fd, bytes.baseAddress! + done, min(bytes.count - done, max(1, limit - bytesWritten)))
            if n < 0 { throw BlockFileError(path: temporary, "write failed: \(String(cString: strerror(errno)))") }
            done += n
            bytesWritten += n
        }
    }

    public func write(_ bytes: [UInt8]) throws(BlockFileError) {
        let result = bytes.withUnsafeBytes { raw -> Result<Void, BlockFileError> in
            do throws(BlockFileError) { try write(raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Makes the file durable and moves it into place.
    public func commit() throws(BlockFileError) {
        guard fsync(fd) == 0 else { throw BlockFileError(path: temporary, "write failed: fsync: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else { throw BlockFileError(path: path, "cannot rename into place: \(String(cString: strerror(errno)))") }
        committed = true
        let dirfd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    deinit {
        close(fd)
        if !committed { unlink(temporary) }
    }
}
