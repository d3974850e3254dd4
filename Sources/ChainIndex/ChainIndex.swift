import BitcoinWire
import BlockFiles
import Foundation

/// The block tree of a blocks directory, built from headers only, and its best chain.
///
/// Heights and the best chain come from proof of work alone (most cumulative work from the
/// network's genesis; the earlier record wins a tie, as Core prefers the block it saw first).
/// Entries are addressed by their ``EntryIndex`` in file order (`entries`), by hash, or by height
/// on the best chain.
///
/// Built once by `init` (a full header pass, or one through a persistent ``HeaderIndexStore``),
/// then kept current by ``update(directory:headerIndex:)``, which reads what was appended to
/// the directory since and extends the tree in place: the cost of a look at a grown directory
/// is that of the new records, not of the chain.
public struct ChainIndex: Sendable {
    /// Every well-formed record in file order (duplicates included), addressed by ``EntryIndex``.
    /// Stored (not made per access): readers on several threads index it per block.
    public internal(set) var entries = Entries(nodes: [])
    /// The best chain's entries, lowest height first.
    public internal(set) var bestChain: [EntryIndex] = []
    /// Height of `bestChain[0]` (0 when the genesis block is present).
    public internal(set) var baseHeight = 0
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
    public internal(set) var duplicateCount = 0

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
    var positionByHash = HashPositionTable()
    /// Per blk file: what the header pass knows of it, and where its records are in `entries`
    /// (a file's records are consecutive: entries are in file order).
    var files: [Int: IndexedFile] = [:]
    /// What the index was built for (an update of another directory starts over).
    private let directoryPath: String
    private let network: Network
    private let xorKey: XorKey
    let genesis: BlockHash
    let givenBaseHeight: Int?
    private var indexNote: String?
    private var tailNotes: [String] = []
    var rootNote: String?
    /// Length of the persistent index file as this index last left it (nil: not written yet).
    private var indexFileLength: Int?
    /// The persistent index being written afresh in the background (`init`'s
    /// `writingIndexInBackground`); ``finishIndexWrite()`` waits for it.
    private var pendingIndexWrite: PendingIndexWrite?
    /// Unconnected first records by their parent's hash, to connect them when it arrives; in a
    /// pruned directory, the root too (its parent arriving changes the root).
    var waitingForParent: [BlockHash: [Int]] = [:]
    /// Unconnected blocks that have duplicate records (connecting one means updating those).
    var unconnectedWithDuplicates: Set<Int> = []
    /// The work of the last compact target placed (see `WorkOfBits`).
    var workOfBits = WorkOfBits()

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

    /// The entries of the records of blk file `number` (consecutive: entries are in file order);
    /// nil for a file the index does not hold.
    public func entryRange(ofFile number: Int) -> Range<EntryIndex>? {
        files[number].map { EntryIndex($0.entries.lowerBound)..<EntryIndex($0.entries.upperBound) }
    }

    /// The best chain's tip.
    public var tip: BlockEntry? { bestChain.last.map { entries.nodes[$0.rawValue] } }

    /// The entry of the best-chain block at `height`.
    public func entryIndex(atHeight height: Int) -> EntryIndex? {
        let i = height - baseHeight
        return i >= 0 && i < bestChain.count ? bestChain[i] : nil
    }

    /// The best-chain block at `height`.
    public func entry(atHeight height: Int) -> BlockEntry? { entryIndex(atHeight: height).map { entries.nodes[$0.rawValue] } }

    /// The entry of the first record of block `hash`, if the directory holds it.
    public func entryIndex(of hash: BlockHash) -> EntryIndex? { positionByHash.find(hash, in: entries.nodes).map(EntryIndex.init) }

    /// The first record of block `hash`, if the directory holds it.
    public func entry(for hash: BlockHash) -> BlockEntry? { positionByHash.find(hash, in: entries.nodes).map { entries.nodes[$0] } }

    /// Whether `entry` is off the best chain: stale, unconnected, or a duplicate of such a block
    /// (a duplicate of a best-chain block is not stale).
    public func isStale(_ entry: EntryIndex) -> Bool {
        switch entries.nodes[entry.rawValue].status {
        case .best: false
        case .stale, .unconnected: true
        case let .duplicate(of: first): entries.nodes[first.rawValue].status != .best
        }
    }

    /// The newest block two connected blocks share (btcd's `chainView.FindFork`): their common
    /// ancestor; nil if either is unknown or unconnected.
    ///
    /// No parent-by-parent climb along the chain: each block goes down its branch only until it
    /// meets the best chain (stale branches are a few blocks long), where `bestChain`, indexed by
    /// height, does what btcd's skip pointers do. Blocks that meet it at different heights fork
    /// at the lower one; blocks that meet it at the same block fork at the newest block their
    /// branches share, or there.
    public func forkPoint(between a: BlockHash, and b: BlockHash) -> BlockEntry? {
        guard let x = positionByHash.find(a, in: entries.nodes), let y = positionByHash.find(b, in: entries.nodes), entries.nodes[x].height != nil, entries.nodes[y].height != nil,
              let downX = branchToBestChain(from: x), let downY = branchToBestChain(from: y) else { return nil }
        guard downX.meets == downY.meets else {
            return entries.nodes[entries.nodes[downX.meets].height! < entries.nodes[downY.meets].height! ? downX.meets : downY.meets]
        }
        let branchY = Set(downY.branch)
        return entries.nodes[downX.branch.first(where: branchY.contains) ?? downX.meets]
    }

    /// The blocks from connected block `i` down to the best chain, `i` first (empty when `i` is
    /// on it), and the best-chain block they meet; nil where the way down breaks (not expected of
    /// a connected block).
    func branchToBestChain(from i: Int) -> (branch: [Int], meets: Int)? {
        var branch: [Int] = []
        var cursor = i
        while entries.nodes[cursor].status != .best {
            branch.append(cursor)
            guard let parent = positionByHash.find(entries.nodes[cursor].parent, in: entries.nodes), entries.nodes[parent].height != nil else { return nil }
            cursor = parent
        }
        return (branch, cursor)
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
        // The records become the entries file by file, each file's let go once converted
        // (gathered into one array first, they would be a copy of ninety megabytes at mainnet's
        // length, held beside the entries).
        entries.nodes.reserveCapacity(total + Self.appendHeadroom)
        for i in recordsByFile.indices {
            entries.nodes.append(contentsOf: recordsByFile[i].lazy.map(BlockEntry.init))
            recordsByFile[i] = []
        }
        noteFiles(directory)
        if let headerIndex, changed, !writingIndexInBackground {
            do { indexFileLength = try headerIndex.rewrite(allFileUpdates(), directory: directory) } catch { throw .file(error) }
        } else if headerIndex != nil, !changed {
            indexFileLength = loaded.length
        }
        if entries.nodes.isEmpty, let foreign {
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
            files[number].map { file in KnownFile(scan: file.scan, first: file.entries.first.map { (entries.nodes[$0].hash, entries.nodes[$0].location) },
                                                  last: file.entries.last.map { (entries.nodes[$0].hash, entries.nodes[$0].location) }) }
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
            let start = entries.nodes.count
            for record in change.records where !appendEntry(record, treeCurrent: treeCurrent) { treeCurrent = false }
            files[change.number] = IndexedFile(scan: change.scan, entries: (files[change.number]?.entries.lowerBound ?? start)..<entries.nodes.count)
            added.append((change.number, start..<entries.nodes.count))
        }
        noteFiles(directory)
        if let headerIndex {
            // The index holds records, not the tree: it is written before the tree is finished.
            let updates = added.map { FileUpdate(number: $0.number, state: files[$0.number]!.scan, records: entries.nodes[$0.range]) }
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

    /// The totals and notes that follow from the files' states.
    private mutating func noteFiles(_ directory: BlocksDirectory) {
        fileBytes = files.values.reduce(0) { $0 + $1.scan.identity.size }
        tailNotes = files.keys.sorted().compactMap { number in
            files[number]!.scan.incompleteTail.map {
                "\(directory.blockFilePath(number)) at offset \($0): the last record is incomplete (not yet written); ignored"
            }
        }
    }

    /// Room left in the tree's arrays for records a follow appends, so that its first look does
    /// not copy them whole to grow them (about a month of mainnet blocks; beyond it they double).
    static let appendHeadroom = 4_096

    /// Highest height accepted as a base height: above any network's chain for centuries to come,
    /// and far from overflowing heights computed from it.
    public static let maxBaseHeight = 100_000_000

    /// Whether the best chain has block `hash` at `height`.
    public func bestChainContains(_ hash: BlockHash, atHeight height: Int) -> Bool {
        entry(atHeight: height)?.hash == hash
    }

    /// Cumulative work of the best chain's tip.
    public var bestWork: UInt256 { tip?.cumulativeWork ?? .zero }
}
