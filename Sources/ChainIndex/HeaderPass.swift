import BitcoinWire
import BlockFiles
import Dispatch
import Foundation

// The header pass: each blk file looked at (unchanged, grown, or anything else), its records'
// 80-byte headers read and their proof of work checked, several files at once. What it finds
// becomes the index's entries (ChainIndex.swift); where they stand is the tree's business
// (BlockTree.swift).

extension ChainIndex {
    /// What an earlier look knew of a file: its state and its newest record.
    struct KnownFile {
        var scan: FileScanState
        /// The file's first and newest known records: a file that grew is resumed only where
        /// both still hold the same blocks (a file rewritten in place, same inode, larger, is
        /// scanned again in full).
        var first: (hash: BlockHash, location: RecordLocation)?
        var last: (hash: BlockHash, location: RecordLocation)?
    }

    /// What a look at one file found.
    enum FileLook {
        case unchanged
        /// The file grew: its state now and the records after the known ones.
        case appended(FileScanState, [HeaderRecord])
        /// New, or not what was known (rewritten, shrunk, replaced): scanned in full.
        case scanned(FileScanState, [HeaderRecord])
    }

    /// `look(at:...)` at every blk file of `directory`, several files at once (the header pass
    /// of a fresh start is bound by page faults and hashing, which cores share out); results in
    /// file order, and the first error in file order thrown.
    static func lookAtAll(directory: BlocksDirectory, known: (Int) -> KnownFile?,
                          stats: inout HeaderPassCounts,
                          foreign: inout (network: Network, path: String)?) throws(ChainIndexError) -> [FileLook] {
        let files = directory.blockFiles
        guard !files.isEmpty else { return [] }
        let knownFiles = files.map(known)
        typealias Outcome = (look: Result<FileLook, ChainIndexError>, stats: HeaderPassCounts, foreign: (network: Network, path: String)?)
        // One slot per file, written by the iteration that looks at it (no array shared for writing).
        let slots = UnsafeMutableBufferPointer<Outcome>.allocate(capacity: files.count)
        defer {
            slots.baseAddress!.deinitialize(count: files.count)
            slots.deallocate()
        }
        nonisolated(unsafe) let output = slots
        // One file per iteration; Dispatch runs as many at once as there are cores.
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            var fileStats: HeaderPassCounts = (0, 0, 0, 0)
            var fileForeign: (network: Network, path: String)?
            let outcome = Result { () throws(ChainIndexError) -> FileLook in
                try Self.look(at: files[i], isNewest: i == files.count - 1, directory: directory, known: knownFiles[i],
                              stats: &fileStats, foreign: &fileForeign)
            }
            (output.baseAddress! + i).initialize(to: (outcome, fileStats, fileForeign))
        }
        var looks: [FileLook] = []
        looks.reserveCapacity(files.count)
        for outcome in slots {
            stats.reused += outcome.stats.reused
            stats.resumed += outcome.stats.resumed
            stats.scanned += outcome.stats.scanned
            stats.bytesScanned += outcome.stats.bytesScanned
            if foreign == nil { foreign = outcome.foreign }
        }
        for outcome in slots { looks.append(try outcome.look.get()) }
        return looks
    }

    /// Looks at blk file `number`: unchanged (nothing read), grown (scanned from where the known
    /// scan stopped), or anything else (scanned in full).
    static func look(at number: Int, isNewest: Bool, directory: BlocksDirectory, known: KnownFile?,
                     stats: inout HeaderPassCounts,
                     foreign: inout (network: Network, path: String)?) throws(ChainIndexError) -> FileLook {
        let path = directory.blockFilePath(number)
        guard let identity = FileIdentity.of(path) else {
            throw .file(BlockFileError(path: path, "cannot open: \(String(cString: strerror(errno)))"))
        }
        // An incomplete tail is a note only in the newest file; once a newer file exists, the
        // file is looked at again (the tail became a problem, or was completed).
        if let known, known.scan.identity == identity, known.scan.incompleteTail == nil || isNewest {
            stats.reused += 1
            return .unchanged
        }
        do throws(BlockFileError) {
            let window = try FileWindow(path: path)
            let current = FileIdentity.of(path) ?? identity
            var resumeFrom: FileScanState?
            if let known, current.mayHaveGrownFrom(known.scan.identity), try lastRecordUnchanged(known, in: window, xorKey: directory.xorKey) {
                resumeFrom = known.scan
                stats.resumed += 1
            } else {
                stats.scanned += 1
            }
            let result = try scan(window, number: number, identity: current, isNewest: isNewest, directory: directory, from: resumeFrom)
            stats.bytesScanned += max(0, window.count - (resumeFrom?.resumeOffset ?? 0))
            if foreign == nil, let network = result.foreignNetwork { foreign = (network, path) }
            return resumeFrom == nil ? .scanned(result.state, result.records) : .appended(result.state, result.records)
        } catch {
            throw .file(error)
        }
    }

    /// Scans `file` from the start, or from where `earlier` stopped (returning the records after
    /// it only); also the foreign network seen, which the index does not keep.
    static func scan(_ file: FileWindow, number: Int, identity: FileIdentity, isNewest: Bool, directory: BlocksDirectory,
                     from earlier: FileScanState?) throws(BlockFileError) -> (state: FileScanState, records: [HeaderRecord], foreignNetwork: Network?) {
        // Headers only: the scanner reads each record's first bytes, and no more where blocks are
        // large (see `RecordScanner`).
        var records: [HeaderRecord] = []
        // Problems found where the scan resumes concerned the file's end as it was (a record cut
        // short there, say); the new scan judges that part again.
        var problems = (earlier?.problems ?? []).filter { $0.offset < (earlier?.resumeOffset ?? 0) }
        var scanner = RecordScanner(file: file, number: number, magic: directory.network.magicValue, xorKey: directory.xorKey,
                                    isNewest: isNewest, startingAt: earlier?.resumeOffset ?? 0)
        var headerBuffer = [UInt8](repeating: 0, count: BlockHeader.size)
        while let location = try scanner.next() {
            try scanner.read(offset: location.payloadOffset, length: BlockHeader.size, into: &headerBuffer)
            // The record holds at least the 80 header bytes (the scanner checked its size).
            guard let (hash, header) = headerBuffer.withUnsafeBytes({ raw -> (BlockHash, BlockHeader)? in
                var cursor = ByteCursor(raw)
                return (try? BlockHeader(from: &cursor)).map { (BlockHeader.hash(of: raw.baseAddress!), $0) }
            }) else { continue }
            let previous = header.previousBlockHash, bits = header.bits
            guard ProofOfWork.check(hash: hash, bits: bits) else {
                problems.append(RecordProblem(path: file.path, offset: location.offset,
                                              message: "block \(hash) fails its own proof of work (nBits \(String(bits, radix: 16))); skipped"))
                continue
            }
            records.append(HeaderRecord(hash: hash, previous: previous, bits: bits, location: location))
        }
        problems += scanner.problems
        let state = FileScanState(identity: identity, resumeOffset: scanner.resumeOffset, incompleteTail: scanner.incompleteTail, problems: problems)
        return (state, records, scanner.foreignNetwork)
    }

    /// Whether the newest record an earlier scan found is still where it was, the same block
    /// (otherwise the file was rewritten, not appended to, and is scanned again in full).
    static func lastRecordUnchanged(_ earlier: KnownFile, in file: FileWindow, xorKey: XorKey) throws(BlockFileError) -> Bool {
        guard earlier.scan.resumeOffset <= file.count else { return false }
        for known in [earlier.first, earlier.last].compactMap({ $0 }) {
            guard try header(at: known.location, in: file, xorKey: xorKey) == known.hash else { return false }
        }
        return true
    }

    /// The hash of the header stored at `location` in `file` now (nil where the file no longer
    /// holds one there).
    static func header(at location: RecordLocation, in file: FileWindow, xorKey: XorKey) throws(BlockFileError) -> BlockHash? {
        let start = location.payloadOffset
        guard start + BlockHeader.size <= file.count else { return nil }
        let stored = try file.bytes(at: start, count: BlockHeader.size)
        guard stored.count == BlockHeader.size else { return nil }  // shrank meanwhile: not the file it was
        var header: [UInt8] = []
        xorKey.copyApplying(from: stored, fileOffset: start, into: &header)
        return header.withUnsafeBytes { BlockHeader.hash(of: $0.baseAddress!) }
    }
}
