import BitcoinWire
import BlockFiles
import Foundation

/// One well-formed block record found by the header pass.
public struct HeaderRecord: Sendable {
    public var hash: BlockHash
    public var previous: BlockHash
    public var bits: UInt32
    public var location: RecordLocation
}

/// Where a block stands in the tree of a blocks directory.
public enum BlockStatus: Hashable, Sendable {
    /// On the best chain (most cumulative work).
    case best
    /// Connected to the chain's root, but on a branch with less work.
    case stale
    /// A later record of a block stored earlier (Core can write a block twice); `of` is the
    /// position of its first record, which carries the block's status.
    case duplicate(of: Int)
    /// Its ancestry does not reach the chain's root (a parent missing, or another root of a
    /// pruned directory): no height, no work.
    case unconnected
}

/// One block record of the tree: what the header pass found, and where the block stands.
///
/// The model is btcd's `blockNode`: hash and parent link, the location of the record in the blk
/// files, height and cumulative work, and a status.
public struct BlockEntry: Sendable {
    public let hash: BlockHash
    /// The previous block's hash (the header's `hashPrevBlock`).
    public let parent: BlockHash
    /// The header's compact target.
    public let bits: UInt32
    public let location: RecordLocation
    /// Height above the network's genesis; nil for an unconnected record.
    public internal(set) var height: Int?
    /// Work of the chain from the root up to and including this block (zero when unconnected).
    public internal(set) var cumulativeWork: UInt256
    public internal(set) var status: BlockStatus

    init(_ record: HeaderRecord) {
        hash = record.hash
        parent = record.previous
        bits = record.bits
        location = record.location
        height = nil
        cumulativeWork = .zero
        status = .unconnected
    }

    public var isOnBestChain: Bool { status == .best }
}

/// The block tree of a blocks directory, built from headers only, and its best chain.
///
/// Heights and the best chain come from proof of work alone (most cumulative work from the
/// network's genesis; the earlier record wins a tie, as Core prefers the block it saw first).
/// Entries are addressed by their position in file order (`entries`), by hash, or by height on
/// the best chain.
///
/// Built once by `init` (a full header pass, or one through a persistent ``HeaderIndexStore``),
/// then kept current by ``update(directory:headerIndex:)``, which reads what was appended to
/// the directory since and extends the tree in place: the cost of a look at a grown directory
/// is that of the new records, not of the chain.
public struct ChainIndex: Sendable {
    /// Every well-formed record in file order (duplicates included).
    public private(set) var entries: [BlockEntry] = []
    /// Positions in `entries` of the best chain, lowest height first.
    public private(set) var bestChain: [Int] = []
    /// Height of `bestChain[0]` (0 when the genesis block is present).
    public private(set) var baseHeight = 0
    /// Framing and proof-of-work problems found (each record skipped, the scan went on), file
    /// by file.
    public var problems: [RecordProblem] { files.keys.sorted().flatMap { files[$0]!.scan.problems } }
    /// Things a user should know (a pruned directory, an incomplete newest record, an index
    /// that could not be used).
    public var notes: [String] { [indexNote].compactMap { $0 } + tailNotes + [rootNote].compactMap { $0 } }
    /// Total bytes of the blk files scanned.
    public private(set) var fileBytes = 0
    /// How the last look went: files taken as they were, resumed where the last scan stopped,
    /// scanned in full, and the bytes read.
    public private(set) var headerPass: HeaderPassCounts = (0, 0, 0, 0)

    /// Files taken as they were, resumed where the last scan stopped, scanned in full; bytes read.
    public typealias HeaderPassCounts = (reused: Int, resumed: Int, scanned: Int, bytesScanned: Int)
    /// What the last look did to the tree.
    public private(set) var lastChange = Change.built
    /// Records repeating a block stored earlier.
    public private(set) var duplicateCount = 0

    /// What a look did to the tree.
    public enum Change: Sendable, Equatable {
        /// Built from every record (`init`, or an update that had to start over: a file
        /// rewritten, shrunk or deleted, records added to a file before the newest).
        case built
        /// Nothing new.
        case unchanged
        /// New records placed in the tree in place (the usual follow poll).
        case extended
        /// New records that could not be placed in place (a new root of a pruned directory, a
        /// duplicate of an unconnected block): the tree was built again from the entries in
        /// memory, without reading the files again.
        case rebuiltTree
    }

    /// Position of each block's first record, by hash.
    private var positionByHash = HashPositionTable()
    /// Per blk file: what the header pass knows of it, and where its records are in `entries`
    /// (a file's records are consecutive: entries are in file order).
    private var files: [Int: IndexedFile] = [:]
    /// What the index was built for (an update of another directory starts over).
    private let directoryPath: String
    private let network: Network
    private let xorKey: XorKey
    private let genesis: BlockHash
    private let givenBaseHeight: Int?
    private var indexNote: String?
    private var tailNotes: [String] = []
    private var rootNote: String?
    /// Length of the persistent index file as this index last left it (nil: not written yet).
    private var indexFileLength: Int?
    /// The persistent index being written afresh in the background (`init`'s
    /// `writingIndexInBackground`); ``finishIndexWrite()`` waits for it.
    private var pendingIndexWrite: PendingIndexWrite?
    /// Unconnected first records by their parent's hash, to connect them when it arrives; in a
    /// pruned directory, the root too (its parent arriving changes the root).
    private var waitingForParent: [BlockHash: [Int]] = [:]
    /// Unconnected blocks that have duplicate records (connecting one means updating those).
    private var unconnectedWithDuplicates: Set<Int> = []

    struct IndexedFile {
        var scan: FileScanState
        var entries: Range<Int>
    }

    /// Whether `directory` holds exactly the blk files this index was built from, unchanged (a
    /// follow poll with nothing new need not look further).
    public func isCurrent(for directory: BlocksDirectory) -> Bool {
        guard directory.blockFiles == files.keys.sorted() else { return false }
        return directory.blockFiles.allSatisfy { FileIdentity.of(directory.blockFilePath($0)) == files[$0]?.scan.identity }
    }

    public var tipHeight: Int? { bestChain.isEmpty ? nil : baseHeight + bestChain.count - 1 }

    /// Positions in `entries` of the records of blk file `number` (consecutive: entries are in
    /// file order); nil for a file the index does not hold.
    public func entryRange(ofFile number: Int) -> Range<Int>? { files[number]?.entries }

    /// The best chain's tip.
    public var tip: BlockEntry? { bestChain.last.map { entries[$0] } }

    /// Position of the best-chain block at `height`.
    public func position(atHeight height: Int) -> Int? {
        let i = height - baseHeight
        return i >= 0 && i < bestChain.count ? bestChain[i] : nil
    }

    /// The best-chain block at `height`.
    public func entry(atHeight height: Int) -> BlockEntry? { position(atHeight: height).map { entries[$0] } }

    /// Position of the first record of block `hash`, if the directory holds it.
    public func position(of hash: BlockHash) -> Int? { positionByHash.find(hash, in: entries) }

    /// The first record of block `hash`, if the directory holds it.
    public func entry(for hash: BlockHash) -> BlockEntry? { position(of: hash).map { entries[$0] } }

    /// Whether the record at `position` is off the best chain: stale, unconnected, or a duplicate
    /// of such a block (a duplicate of a best-chain block is not stale).
    public func isStale(_ position: Int) -> Bool {
        switch entries[position].status {
        case .best: false
        case .stale, .unconnected: true
        case let .duplicate(of: first): entries[first].status != .best
        }
    }

    /// The newest block two connected blocks share (btcd's `chainView.FindFork`): their common
    /// ancestor, found by following parent links; nil if either is unknown or unconnected, or
    /// they hang from different roots.
    public func forkPoint(between a: BlockHash, and b: BlockHash) -> BlockEntry? {
        guard var x = entry(for: a), var y = entry(for: b), x.height != nil, y.height != nil else { return nil }
        func parent(of entry: BlockEntry) -> BlockEntry? {
            guard let height = entry.height, height > baseHeight else { return nil }
            return self.entry(for: entry.parent)
        }
        while x.hash != y.hash {
            let climbX = x.height! >= y.height!
            guard let up = parent(of: climbX ? x : y) else { return nil }
            if climbX { x = up } else { y = up }
        }
        return x
    }

    /// Header pass over every `blk*.dat` in `directory`: reads only each record's 80-byte header.
    ///
    /// `baseHeight` is the height of the first available block of a pruned or partial directory
    /// (one without the genesis block). Without it that height is read from the block's BIP34
    /// coinbase, which only blocks from the network's BIP34 height on are sure to carry: an earlier
    /// first block is an error that asks for the height. With it, heights follow from it, and a
    /// block that must carry a BIP34 height at that height but carries another is an error.
    ///
    /// With `headerIndex` (a state directory's persistent index) only what changed is read: files
    /// whose identity is unchanged are taken from the index, files that grew are scanned from
    /// where the last scan stopped, new or replaced files in full; the index is then updated.
    /// The result equals a full header pass in every case.
    ///
    /// With `writingIndexInBackground`, an index written afresh (a first start: tens of
    /// megabytes and an fsync) is written while the caller goes on, who must then call
    /// ``finishIndexWrite()`` (which reports a failure) before relying on the file; `update`
    /// waits for it too.
    public init(directory: BlocksDirectory, baseHeight givenBaseHeight: Int? = nil,
                headerIndex: HeaderIndexStore? = nil, writingIndexInBackground: Bool = false) throws(ChainIndexError) {
        directoryPath = directory.path
        network = directory.network
        xorKey = directory.xorKey
        genesis = directory.network.genesisHash
        self.givenBaseHeight = givenBaseHeight
        var foreign: (network: Network, path: String)?
        var loaded = HeaderIndexStore.Loaded()
        if let headerIndex {
            loaded = headerIndex.load(directory: directory)
            indexNote = loaded.problem
        }
        var cached = loaded.files
        var changed = headerIndex != nil && (cached == nil || loaded.wantsRewrite)
        // Each file's records, in file order, until they become the entries.
        var recordsByFile: [[HeaderRecord]] = []
        var total = 0
        var looks = try Self.lookAtAll(directory: directory, known: { number in
            cached?[number].map { KnownFile(scan: $0.state, first: $0.records.first.map { ($0.hash, $0.location) },
                                            last: $0.records.last.map { ($0.hash, $0.location) }) }
        }, stats: &headerPass, foreign: &foreign)
        for (i, number) in directory.blockFiles.enumerated() {
            let look = looks[i]
            looks[i] = .unchanged  // the look lets go of its records: below, once converted, they are freed
            let old = cached?.removeValue(forKey: number)
            var file: ScannedFile
            switch look {
            case .unchanged:
                file = old!
            case let .appended(scan, new):
                file = old!
                file.state = scan
                file.records += new
                changed = true
            case let .scanned(scan, new):
                file = ScannedFile(state: scan, records: new)
                changed = true
            }
            files[number] = IndexedFile(scan: file.state, entries: total..<(total + file.records.count))
            total += file.records.count
            recordsByFile.append(file.records)
        }
        if let cached, !cached.isEmpty { changed = true }  // files vanished (pruned)
        cached = nil
        // The records become the entries file by file, each file's let go once converted (not
        // gathered into one array first: at a mainnet's length that was a copy of ninety
        // megabytes, held beside the entries).
        entries.reserveCapacity(total + Self.appendHeadroom)
        for i in recordsByFile.indices {
            entries.append(contentsOf: recordsByFile[i].lazy.map(BlockEntry.init))
            recordsByFile[i] = []
        }
        noteFiles(directory)
        if let headerIndex, changed, !writingIndexInBackground {
            do { indexFileLength = try headerIndex.rewrite(allFileUpdates(), directory: directory) } catch { throw .file(error) }
        } else if headerIndex != nil, !changed {
            indexFileLength = loaded.length
        }
        if entries.isEmpty, let foreign {
            throw .foreignNetwork(path: foreign.path, found: foreign.network, expected: directory.network)
        }
        try buildTree(directory: directory)
        if let headerIndex, changed, writingIndexInBackground {
            // After the tree: the writer reads the entries, which nothing changes until the next
            // `update` (which waits for it first).
            let updates = allFileUpdates()
            pendingIndexWrite = PendingIndexWrite { () throws(BlockFileError) -> Int in try headerIndex.rewrite(updates, directory: directory) }
        }
    }

    /// Waits for the persistent index being written in the background, if any; throws its
    /// failure. Call before the process ends (or the index file is read).
    public mutating func finishIndexWrite() throws(ChainIndexError) {
        guard let pending = pendingIndexWrite else { return }
        pendingIndexWrite = nil
        do { indexFileLength = try pending.wait() } catch { throw .file(error) }
    }

    /// Brings the index up to date with `directory` as it is now (a follow poll): reads only what
    /// was appended since the last look, places the new records in the tree in place, and
    /// appends them to `headerIndex`. The result equals a full header pass in every case: where
    /// the directory changed otherwise (a file rewritten, shrunk or deleted, records added to a
    /// file before the newest, another directory) it is built again (``lastChange`` tells).
    /// After a thrown error the index must not be used.
    public mutating func update(directory: BlocksDirectory, headerIndex: HeaderIndexStore? = nil) throws(ChainIndexError) {
        try finishIndexWrite()
        let known = files.keys.sorted()
        func startOver() throws(ChainIndexError) {
            self = try ChainIndex(directory: directory, baseHeight: givenBaseHeight, headerIndex: headerIndex)
        }
        guard directory.path == directoryPath, directory.network == network, directory.xorKey == xorKey,
              directory.blockFiles.starts(with: known) else { return try startOver() }
        var stats: HeaderPassCounts = (0, 0, 0, 0)
        var foreign: (network: Network, path: String)?
        var changes: [(number: Int, scan: FileScanState, records: [HeaderRecord])] = []
        let looks = try Self.lookAtAll(directory: directory, known: { number in
            files[number].map { file in KnownFile(scan: file.scan, first: file.entries.first.map { (entries[$0].hash, entries[$0].location) },
                                                  last: file.entries.last.map { (entries[$0].hash, entries[$0].location) }) }
        }, stats: &stats, foreign: &foreign)
        for (number, look) in zip(directory.blockFiles, looks) {
            switch look {
            case .unchanged:
                continue
            case let .appended(scan, records):
                // Records added to a file before the newest known one would fall amid the
                // entries, which are in file order.
                if !records.isEmpty && number != known.last { return try startOver() }
                changes.append((number, scan, records))
            case let .scanned(scan, records):
                if files[number] != nil { return try startOver() }  // rewritten, shrunk or replaced
                changes.append((number, scan, records))
            }
        }
        headerPass = stats
        guard !changes.isEmpty else {
            lastChange = .unchanged
            return
        }
        var treeCurrent = true
        var added: [(number: Int, range: Range<Int>)] = []
        for change in changes {
            let start = entries.count
            for record in change.records where !appendEntry(record, treeCurrent: treeCurrent) { treeCurrent = false }
            files[change.number] = IndexedFile(scan: change.scan, entries: (files[change.number]?.entries.lowerBound ?? start)..<entries.count)
            added.append((change.number, start..<entries.count))
        }
        noteFiles(directory)
        if let headerIndex {
            // The index holds records, not the tree: it is written before the tree is finished.
            let updates = added.map { FileUpdate(number: $0.number, state: files[$0.number]!.scan, records: entries[$0.range]) }
            do {
                if let length = indexFileLength, let grown = try headerIndex.append(updates, expectedLength: length) {
                    indexFileLength = grown
                } else {
                    indexFileLength = try headerIndex.rewrite(allFileUpdates(), directory: directory)
                }
            } catch {
                throw .file(error)
            }
        }
        if treeCurrent {
            lastChange = .extended
        } else {
            try rebuildTree(directory: directory)
            lastChange = .rebuiltTree
        }
    }

    /// Every file's state and records, for writing the persistent index afresh.
    private func allFileUpdates() -> [FileUpdate] {
        files.keys.sorted().map { FileUpdate(number: $0, state: files[$0]!.scan, records: entries[files[$0]!.entries]) }
    }

    /// The totals and notes that follow from the files' states.
    private mutating func noteFiles(_ directory: BlocksDirectory) {
        fileBytes = files.values.reduce(0) { $0 + $1.scan.identity.size }
        tailNotes = files.keys.sorted().compactMap { number in
            files[number]!.scan.incompleteTail.map {
                "\(directory.blockFilePath(number)) at offset \($0): the last record is incomplete (not yet written); ignored"
            }
        }
    }

    // MARK: - The header pass, file by file

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

    /// Room left in the tree's arrays for records a follow appends, so that its first look does
    /// not copy them whole to grow them (about a month of mainnet blocks; beyond it they double).
    static let appendHeadroom = 4_096

    /// Highest height accepted as a base height: above any network's chain for centuries to come,
    /// and far from overflowing heights computed from it.
    public static let maxBaseHeight = 100_000_000

    // MARK: - The tree

    /// Builds the tree from the entries (all unconnected, as made from their records).
    private mutating func buildTree(directory: BlocksDirectory) throws(ChainIndexError) {
        positionByHash = HashPositionTable(capacity: entries.count)
        for i in entries.indices {
            if let original = positionByHash.insert(entries[i].hash, position: i, in: entries) {
                entries[i].status = .duplicate(of: original)
                duplicateCount += 1
            }
        }
        func isFirstRecord(_ i: Int) -> Bool {
            if case .duplicate = entries[i].status { return false }
            return true
        }
        // The tree as flat arrays (one hash lookup per block, no per-block allocation): each
        // block's parent record, and its children in record order (compressed: the children of
        // `p` are childList[childStart[p]..<childStart[p + 1]]).
        let n = entries.count
        var parent = [Int](repeating: -1, count: n)
        var childStart = [Int](repeating: 0, count: n + 1)
        for i in 0..<n where isFirstRecord(i) {
            if let p = positionByHash.find(entries[i].parent, in: entries) {
                parent[i] = p
                childStart[p + 1] += 1
            }
        }
        for p in 0..<n { childStart[p + 1] += childStart[p] }
        var childList = [Int](repeating: 0, count: childStart[n])
        var fill = childStart
        for i in 0..<n where isFirstRecord(i) && parent[i] >= 0 {
            childList[fill[parent[i]]] = i
            fill[parent[i]] += 1
        }
        func children(_ p: Int) -> ArraySlice<Int> { childList[childStart[p]..<childStart[p + 1]] }

        // The root: the network's genesis, or for a pruned directory the best of the blocks whose
        // parent is missing.
        var roots: [Int]
        if let g = positionByHash.find(genesis, in: entries) {
            roots = [g]
        } else {
            roots = (0..<n).filter { isFirstRecord($0) && parent[$0] < 0 }
        }
        defer { noteUnconnected() }
        guard !roots.isEmpty else { return }

        // nBits changes once per 2,016 blocks at most: remember the last one's work.
        var lastBits: UInt32?, lastWork = UInt256.zero
        func work(_ bits: UInt32) -> UInt256 {
            if bits != lastBits {
                lastBits = bits
                lastWork = ProofOfWork.work(bits: bits)
            }
            return lastWork
        }
        // Breadth-first from each root (no recursion): cumulative work per block. Work counts
        // from each root; only the chosen root's blocks keep it (others stay unconnected).
        var bestTip = -1, bestWork = UInt256.zero, bestRoot = -1
        var visited = [Bool](repeating: false, count: n)
        var cumulative = [UInt256](repeating: .zero, count: n)
        for root in roots {
            visited[root] = true
            cumulative[root] = work(entries[root].bits)
            var queue = [root]
            var head = 0
            while head < queue.count {
                let i = queue[head]
                head += 1
                if cumulative[i] > bestWork || (cumulative[i] == bestWork && (bestTip < 0 || i < bestTip)) {
                    bestWork = cumulative[i]; bestTip = i; bestRoot = root
                }
                for child in children(i) where !visited[child] {
                    visited[child] = true
                    cumulative[child] = cumulative[i] &+ work(entries[child].bits)
                    queue.append(child)
                }
            }
        }
        if entries[bestRoot].hash == genesis {
            if let givenBaseHeight, givenBaseHeight != 0 {
                let root = entries[bestRoot].location
                throw .genesisPresent(path: directory.blockFilePath(root.file), offset: root.offset, given: givenBaseHeight)
            }
            baseHeight = 0
        } else {
            baseHeight = try Self.firstBlockHeight(of: entries[bestRoot], directory: directory, given: givenBaseHeight)
            let source = givenBaseHeight == nil ? "from its BIP34 coinbase" : "as given"
            rootNote = "the genesis block is not in \(directory.path) (pruned?): chain starts at block \(entries[bestRoot].hash), height \(baseHeight) \(source)"
            // Its parent arriving would make another block the root.
            waitingForParent[entries[bestRoot].parent, default: []].append(bestRoot)
        }
        // Heights and work for everything under the chosen root (stale until the best chain is
        // marked); other roots' blocks stay unconnected.
        var queue = [bestRoot]
        var head = 0
        entries[bestRoot].height = baseHeight
        entries[bestRoot].cumulativeWork = cumulative[bestRoot]
        entries[bestRoot].status = .stale
        while head < queue.count {
            let i = queue[head]
            head += 1
            for child in children(i) {
                entries[child].height = entries[i].height! + 1
                entries[child].cumulativeWork = cumulative[child]
                entries[child].status = .stale
                queue.append(child)
            }
        }
        var chain: [Int] = []
        var cursor = bestTip
        while true {
            chain.append(cursor)
            entries[cursor].status = .best
            if cursor == bestRoot { break }
            cursor = parent[cursor]
        }
        bestChain.reserveCapacity(chain.count + Self.appendHeadroom)
        bestChain.append(contentsOf: chain.reversed())
        // Duplicates carry their first record's height and work.
        for i in entries.indices {
            if case let .duplicate(of: first) = entries[i].status {
                entries[i].height = entries[first].height
                entries[i].cumulativeWork = entries[first].cumulativeWork
            }
        }
    }

    /// Registers the unconnected blocks (by their parent's hash) and those of them with
    /// duplicates, for `update`.
    private mutating func noteUnconnected() {
        for i in entries.indices {
            switch entries[i].status {
            case .unconnected:
                waitingForParent[entries[i].parent, default: []].append(i)
            case let .duplicate(of: first) where entries[first].status == .unconnected:
                unconnectedWithDuplicates.insert(first)
            default:
                break
            }
        }
    }

    /// Builds the tree again from the entries in memory.
    private mutating func rebuildTree(directory: BlocksDirectory) throws(ChainIndexError) {
        for i in entries.indices {
            entries[i].height = nil
            entries[i].cumulativeWork = .zero
            entries[i].status = .unconnected
        }
        bestChain = []
        baseHeight = 0
        duplicateCount = 0
        rootNote = nil
        waitingForParent = [:]
        unconnectedWithDuplicates = []
        try buildTree(directory: directory)
    }

    /// Adds `record` after every entry and, if `treeCurrent`, places it in the tree as a full
    /// build would; false when it cannot be placed in place (the tree must then be built again).
    private mutating func appendEntry(_ record: HeaderRecord, treeCurrent: Bool) -> Bool {
        let position = entries.count
        positionByHash.reserve(position + 1, entries: entries)
        entries.append(BlockEntry(record))
        if let original = positionByHash.insert(record.hash, position: position, in: entries) {
            entries[position].status = .duplicate(of: original)
            duplicateCount += 1
            guard treeCurrent else { return false }
            entries[position].height = entries[original].height
            entries[position].cumulativeWork = entries[original].cumulativeWork
            if entries[original].status == .unconnected { unconnectedWithDuplicates.insert(original) }
            return true
        }
        guard treeCurrent, !bestChain.isEmpty else { return false }
        let pruned = baseHeight != 0 || entries[bestChain[0]].hash != genesis
        // In a pruned directory a block's parent arriving, or the genesis block, changes the root.
        if pruned && (record.hash == genesis || waitingForParent[record.hash] != nil) { return false }
        guard let parent = positionByHash.find(record.previous, in: entries), entries[parent].height != nil else {
            // Not connected (yet): a new root of a pruned directory changes the choice of root;
            // with the genesis block present, it waits for its parent.
            if pruned { return false }
            waitingForParent[record.previous, default: []].append(position)
            return true
        }
        return connect(position, under: parent)
    }

    /// Gives `first` (whose parent is connected) and the blocks that were waiting for it their
    /// heights and work, and makes the best of them the tip if it beats the current one.
    private mutating func connect(_ first: Int, under parent: Int) -> Bool {
        var pending = [(block: first, parent: parent)]
        while let (i, p) = pending.popLast() {
            if unconnectedWithDuplicates.contains(i) { return false }
            entries[i].height = entries[p].height! + 1
            entries[i].cumulativeWork = entries[p].cumulativeWork &+ ProofOfWork.work(bits: entries[i].bits)
            entries[i].status = .stale
            // Most work wins; between equals, the earlier record (as the full build's choice).
            let best = bestChain.last!
            if entries[i].cumulativeWork > entries[best].cumulativeWork || (entries[i].cumulativeWork == entries[best].cumulativeWork && i < best) {
                makeTip(i)
            }
            for child in waitingForParent.removeValue(forKey: entries[i].hash) ?? [] { pending.append((child, i)) }
        }
        return true
    }

    /// Makes connected block `tip` the best chain's tip: its branch replaces the old one above
    /// their fork point (a cost in the depth of the switch, not the chain).
    private mutating func makeTip(_ tip: Int) {
        var branch: [Int] = []
        var cursor = tip
        while entries[cursor].status != .best {
            branch.append(cursor)
            cursor = positionByHash.find(entries[cursor].parent, in: entries)!
        }
        let keep = entries[cursor].height! - baseHeight + 1
        for i in bestChain[keep...] { entries[i].status = .stale }
        bestChain.removeSubrange(keep...)
        for i in branch.reversed() {
            entries[i].status = .best
            bestChain.append(i)
        }
    }

    /// Whether the best chain has block `hash` at `height`.
    public func bestChainContains(_ hash: BlockHash, atHeight height: Int) -> Bool {
        entry(atHeight: height)?.hash == hash
    }

    /// Cumulative work of the best chain's tip.
    public var bestWork: UInt256 { tip?.cumulativeWork ?? .zero }
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
