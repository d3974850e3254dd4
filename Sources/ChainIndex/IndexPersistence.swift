import BlockFiles
import Dispatch

// What the index hands to its persistent form (HeaderIndexStore.swift, which owns the file's
// format): every file's records for a rewrite, and a rewrite running in the background.

extension ChainIndex {
    /// Every file's state and records, for writing the persistent index afresh.
    func allFileUpdates() -> [FileUpdate] {
        files.keys.sorted().map { FileUpdate(number: $0, state: files[$0]!.scan, records: entries.nodes[files[$0]!.entries]) }
    }
}

/// A rewrite of the persistent header index running on a queue of its own; `wait` returns the
/// file's length or throws the write's failure (as often as asked).
final class PendingIndexWrite: @unchecked Sendable {
    private let group = DispatchGroup()
    private var result: Result<Int, BlockFileError>?

    init(_ work: @escaping @Sendable () throws(BlockFileError) -> Int) {
        DispatchQueue.global(qos: .utility).async(group: group) { [self] in
            do throws(BlockFileError) { result = .success(try work()) } catch { result = .failure(error) }
        }
    }

    func wait() throws(BlockFileError) -> Int {
        group.wait()
        return try result!.get()
    }
}
