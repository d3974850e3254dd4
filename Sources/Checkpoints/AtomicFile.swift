import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file written under a temporary name and moved into place only once it is complete and on
/// disk (temporary file, fsync, rename, fsync of the directory): a failure at any point leaves
/// whatever was at `path` as it was, and no temporary file.
final class AtomicFile {
    let path: String
    let temporary: String
    private let fd: Int32
    /// Test hook: writing fails, as on a full disk, once this many bytes are written.
    private let limit: Int
    private(set) var bytesWritten = 0
    private var committed = false

    init(path: String, failAfter: Int? = nil) throws(CheckpointError) {
        self.path = path
        temporary = (path as NSString).deletingLastPathComponent + "/." + (path as NSString).lastPathComponent + ".tmp"
        limit = failAfter ?? Int.max
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.fileSystem("\(temporary): cannot create: \(String(cString: strerror(errno)))") }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
        var done = 0
        while done < bytes.count {
            if bytesWritten >= limit { throw CheckpointError.fileSystem("\(temporary): write failed: No space left on device (injected)") }
            let n = Glibc.write(fd, bytes.baseAddress! + done, min(bytes.count - done, max(1, limit - bytesWritten)))
            if n < 0 { throw CheckpointError.fileSystem("\(temporary): write failed: \(String(cString: strerror(errno)))") }
            done += n
            bytesWritten += n
        }
    }

    func write(_ bytes: [UInt8]) throws(CheckpointError) {
        let result = bytes.withUnsafeBytes { raw -> Result<Void, CheckpointError> in
            do throws(CheckpointError) { try write(raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Makes the file durable and moves it into place.
    func commit() throws(CheckpointError) {
        guard fsync(fd) == 0 else { throw CheckpointError.fileSystem("\(temporary): write failed: fsync: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else { throw CheckpointError.fileSystem("\(path): cannot rename into place: \(String(cString: strerror(errno)))") }
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
