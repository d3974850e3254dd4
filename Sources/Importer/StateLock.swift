import BitcoinWire
import Foundation
import Virtualchain
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a state directory (`DIR/lock`, flock), held while a process writes it.
/// The kernel releases it when the process dies, however it dies.
public final class StateLock {
    public let path: String
    private let fd: Int32

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/" + StateStore.lockFileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImporterError.lockFileUnusable(path: path, reason: String(cString: strerror(errno))) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw ImporterError.stateInUse(directory: directory, pid: holder)
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// Why an import cannot go on. The state is never left between blocks, and never deleted.
public enum ImporterError: Error, CustomStringConvertible, Sendable {
    /// Our tip left the best chain and no block of ours is on it: the directory lost our chain.
    case chainLost(directory: String, tipHash: BlockHash, height: Int)
    /// Our tip left the best chain, but the new best chain has no more work than ours: blocks
    /// missing or damaged, not a reorganisation.
    case notMoreWork(directory: String, tipHash: BlockHash, height: Int, bestHeight: Int)
    /// A directory stands where the header index is written (`header-index.bin`).
    case headerIndexIsADirectory(path: String)
    /// No usable checkpoint, and the directory starts after the machine's first block.
    case cannotRebuild(baseHeight: Int, firstBlock: Int)
    /// A rebuild was interrupted: the previous state is unchanged.
    case rebuildInterrupted(target: String, partial: String)
    /// A checkpoint could not be written (disk full, say).
    case checkpointNotWritten(reason: String)
    /// The lock file cannot be opened.
    case lockFileUnusable(path: String, reason: String)
    /// Another process writes this state directory.
    case stateInUse(directory: String, pid: String)

    public var description: String {
        switch self {
        case let .chainLost(directory, tipHash, height):
            "our tip \(tipHash) at height \(height) is not on the best chain of \(directory), and no block of ours is: the blocks directory lost our chain (not a reorganisation; or its xor.dat is not the key its blk files were written with, so none of our blocks decodes); the state is kept unchanged"
        case let .notMoreWork(directory, tipHash, height, bestHeight):
            "our tip \(tipHash) at height \(height) is not on the best chain of \(directory), which ends at height \(bestHeight) without more work than ours: blocks missing or damaged there, not a reorganisation; the state is kept unchanged"
        case let .headerIndexIsADirectory(path):
            "\(path) is a directory, where the header index is kept; remove it (the index is rebuilt from the blk files); nothing was changed"
        case let .cannotRebuild(baseHeight, firstBlock):
            "no usable checkpoint, and \(baseHeight > 0 ? "the blocks directory starts at height \(baseHeight)" : "the blocks directory"), after the machine's first block \(firstBlock): the state cannot be rebuilt from these blocks, so it is kept as it is"
        case let .rebuildInterrupted(target, partial):
            "the rebuild was interrupted; \(target) is unchanged and the partial rebuild left in \(partial)"
        case let .checkpointNotWritten(reason):
            "checkpoint not written: \(reason); earlier checkpoints and the state are intact"
        case let .lockFileUnusable(path, reason):
            "\(path): cannot open the lock file: \(reason)"
        case let .stateInUse(directory, pid):
            "state directory \(directory) is in use by another virtualchain process (pid \(pid)); refusing to write it too"
        }
    }
}
