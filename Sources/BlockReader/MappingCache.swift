import BlockFiles
import Foundation

/// Maps each blk file while blocks from it are pending and unmaps it after the last one, so
/// resident memory stays bounded however large the directory is.
final class MappingCache: @unchecked Sendable {
    private let lock = NSLock()
    private let directory: BlocksDirectory
    private var pending: [Int: Int] = [:]
    private var mappings: [Int: MappedFile] = [:]

    init(directory: BlocksDirectory, records: [RecordLocation]) {
        self.directory = directory
        for location in records { pending[location.file, default: 0] += 1 }
    }

    /// Spans of block bytes done with, per file, not yet released.
    private var done = DoneSpans()

    /// Records that the blocks at `locations` are done with: a file none of whose blocks is
    /// pending any more is unmapped; otherwise, once enough of it is done, those pages leave
    /// resident memory (see `DoneSpans`).
    func finished(_ locations: [RecordLocation]) {
        var due: [(MappedFile, Range<Int>)] = []
        lock.lock()
        for location in locations {
            let range = location.offset..<(location.payloadOffset + location.size)
            if let span = done.add(range, ofFile: location.file), let mapped = mappings[location.file] { due.append((mapped, span)) }
            pending[location.file, default: 0] -= 1
            if pending[location.file] == 0 {
                mappings[location.file] = nil
                done.forget(location.file)
            }
        }
        lock.unlock()
        for (file, range) in due { file.releasePages(range) }
    }

    func mapping(_ file: Int) throws -> MappedFile {
        lock.lock()
        defer { lock.unlock() }
        if let mapped = mappings[file] { return mapped }
        let mapped = try MappedFile(path: directory.blockFilePath(file))
        mapped.adviseSequential()
        mappings[file] = mapped
        return mapped
    }
}
