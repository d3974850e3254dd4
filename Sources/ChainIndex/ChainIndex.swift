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
public struct ChainIndex: Sendable {
    /// Every well-formed record in file order (duplicates included).
    public private(set) var entries: [BlockEntry] = []
    /// Positions in `entries` of the best chain, lowest height first.
    public private(set) var bestChain: [Int] = []
    /// Height of `bestChain[0]` (0 when the genesis block is present).
    public private(set) var baseHeight = 0
    /// Framing and proof-of-work problems found (each record skipped, the scan went on).
    public private(set) var problems: [RecordProblem] = []
    /// Things a user should know (a pruned directory, an incomplete newest record).
    public private(set) var notes: [String] = []
    /// Total bytes of the blk files scanned.
    public private(set) var fileBytes = 0
    /// Each blk file's identity when it was read (to tell whether the directory changed since).
    public private(set) var fileIdentities: [Int: FileIdentity] = [:]
    /// How the header pass went: files taken from the persistent index, resumed, scanned in full.
    public private(set) var headerPass = (reused: 0, resumed: 0, scanned: 0, bytesScanned: 0)
    /// Records repeating a block stored earlier.
    public private(set) var duplicateCount = 0
    /// Position of each block's first record, by hash.
    private var positionByHash = HashPositionTable()

    /// Whether `directory` holds exactly the blk files this index was built from, unchanged (a
    /// follow poll with nothing new need not look further).
    public func isCurrent(for directory: BlocksDirectory) -> Bool {
        guard directory.blockFiles == fileIdentities.keys.sorted() else { return false }
        return directory.blockFiles.allSatisfy { FileIdentity.of(directory.blockFilePath($0)) == fileIdentities[$0] }
    }

    public var tipHeight: Int? { bestChain.isEmpty ? nil : baseHeight + bestChain.count - 1 }

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
    public init(directory: BlocksDirectory, baseHeight givenBaseHeight: Int? = nil,
                headerIndex: HeaderIndexStore? = nil) throws(ChainIndexError) {
        var foreign: (network: Network, path: String)?
        var cached: [Int: ScannedFile]?
        if let headerIndex {
            let loaded = headerIndex.load(directory: directory)
            cached = loaded.files
            if let problem = loaded.problem { notes.append(problem) }
        }
        var scanned: [Int: ScannedFile] = [:]
        var records: [HeaderRecord] = []
        var changed = headerIndex != nil && cached == nil
        for (n, number) in directory.blockFiles.enumerated() {
            let path = directory.blockFilePath(number)
            let isNewest = n == directory.blockFiles.count - 1
            guard let identity = FileIdentity.of(path) else {
                throw .file(BlockFileError(path: path, "cannot open: \(String(cString: strerror(errno)))"))
            }
            fileBytes += identity.size
            var file: ScannedFile
            if let old = cached?[number], old.identity == identity, old.incompleteTail == nil || isNewest {
                file = old
                headerPass.reused += 1
            } else {
                let mapped: MappedFile
                do { mapped = try MappedFile(path: path) } catch { throw .file(error) }
                let current = FileIdentity.of(path) ?? identity
                var earlier: ScannedFile?
                if let old = cached?[number], current.mayHaveGrownFrom(old.identity), Self.lastRecordUnchanged(old, in: mapped, xorKey: directory.xorKey) {
                    earlier = old
                    headerPass.resumed += 1
                } else {
                    headerPass.scanned += 1
                }
                let result = Self.scan(mapped, number: number, identity: current, isNewest: isNewest, directory: directory, from: earlier)
                file = result.file
                headerPass.bytesScanned += max(0, mapped.bytes.count - (earlier?.resumeOffset ?? 0))
                changed = true
                if foreign == nil, let network = result.foreignNetwork { foreign = (network, path) }
            }
            fileIdentities[number] = file.identity
            records += file.records
            problems += file.problems
            if let tail = file.incompleteTail {
                notes.append("\(path) at offset \(tail): the last record is incomplete (not yet written); ignored")
            }
            scanned[number] = file
        }
        if let cached, Set(cached.keys) != Set(directory.blockFiles) { changed = true }  // files vanished (pruned)
        if let headerIndex, changed {
            do { try headerIndex.save(scanned, directory: directory) } catch { throw .file(error) }
        }
        // The per-file scans are in `records` now: let them go before the tree is built.
        scanned = [:]
        cached = nil
        if records.isEmpty, let foreign {
            throw .foreignNetwork(path: foreign.path, found: foreign.network, expected: directory.network)
        }
        try chooseBestChain(&records, directory: directory, givenBaseHeight: givenBaseHeight)
    }

    /// Scans `mapped` from the start, or from where `earlier` stopped (keeping its records); also
    /// the foreign network seen, which the index does not keep.
    static func scan(_ mapped: MappedFile, number: Int, identity: FileIdentity, isNewest: Bool,
                     directory: BlocksDirectory, from earlier: ScannedFile?) -> (file: ScannedFile, foreignNetwork: Network?) {
        // Headers only: each byte of a block body is to be read once, by the block pass. With
        // large blocks, read-ahead would pull the bodies in with the headers, so ask for the
        // pages touched only; with small ones the headers fill most pages anyway, and the
        // kernel's fault-around is the faster way through them.
        // No read-around even for the sample below (it would fetch read_ahead_kb around it).
        mapped.adviseRandom()
        var randomAccess = largestLeadingRecord(mapped, xorKey: directory.xorKey) >= randomAccessRecordSize
        if !randomAccess { mapped.adviseNormal() }
        // Blocks grow along a chain (blk00000 starts with tiny ones): judge as the scan goes, by the
        // recent records' average size, and stop read-ahead from there once they are large.
        var windowBytes = 0, windowRecords = 0
        var records = earlier?.records ?? []
        // Problems found where the scan resumes concerned the file's end as it was (a record cut
        // short there, say); the new scan judges that part again.
        var problems = (earlier?.problems ?? []).filter { $0.offset < (earlier?.resumeOffset ?? 0) }
        var scanner = RecordScanner(file: mapped, number: number, magic: directory.network.magicValue, xorKey: directory.xorKey,
                                    isNewest: isNewest, startingAt: earlier?.resumeOffset ?? 0)
        var headerBuffer = [UInt8](repeating: 0, count: BlockHeader.size)
        while let location = scanner.next() {
            if !randomAccess {
                windowBytes += location.size
                windowRecords += 1
                if windowRecords == sizeWindow {
                    if windowBytes / sizeWindow >= randomAccessRecordSize {
                        randomAccess = true
                        mapped.adviseRandom(from: location.offset)
                    }
                    windowBytes = 0
                    windowRecords = 0
                }
            }
            scanner.read(offset: location.payloadOffset, length: BlockHeader.size, into: &headerBuffer)
            // The record holds at least the 80 header bytes (the scanner checked its size).
            guard let (hash, header) = headerBuffer.withUnsafeBytes({ raw -> (BlockHash, BlockHeader)? in
                var cursor = ByteCursor(raw)
                return (try? BlockHeader(from: &cursor)).map { (BlockHeader.hash(of: raw.baseAddress!), $0) }
            }) else { continue }
            let previous = header.previousBlockHash, bits = header.bits
            guard ProofOfWork.check(hash: hash, bits: bits) else {
                problems.append(RecordProblem(path: mapped.path, offset: location.offset,
                                              message: "block \(hash) fails its own proof of work (nBits \(String(bits, radix: 16))); skipped"))
                continue
            }
            records.append(HeaderRecord(hash: hash, previous: previous, bits: bits, location: location))
        }
        problems += scanner.problems
        return (ScannedFile(identity: identity, resumeOffset: scanner.resumeOffset, incompleteTail: scanner.incompleteTail,
                            records: records, problems: problems), scanner.foreignNetwork)
    }

    /// Whether the newest record an earlier scan found is still where it was, the same block
    /// (otherwise the file was rewritten, not appended to, and is scanned again in full).
    static func lastRecordUnchanged(_ earlier: ScannedFile, in mapped: MappedFile, xorKey: XorKey) -> Bool {
        guard earlier.resumeOffset <= mapped.bytes.count else { return false }
        guard let last = earlier.records.last else { return true }
        let start = last.location.payloadOffset
        guard start + BlockHeader.size <= mapped.bytes.count else { return false }
        var header: [UInt8] = []
        xorKey.copyApplying(from: UnsafeRawBufferPointer(rebasing: mapped.bytes[start..<(start + BlockHeader.size)]), fileOffset: start, into: &header)
        return header.withUnsafeBytes { BlockHeader.hash(of: $0.baseAddress!) } == last.hash
    }

    /// Record size from which the header pass reads pages on demand only (`MADV_RANDOM`): a
    /// block this large spans several pages besides its header's.
    public static let randomAccessRecordSize = 32 * 1024

    /// Records sampled to judge a file's block size (the first of blk00000 is the tiny genesis).
    static let sizeSamples = 4
    /// Records whose average size decides, during a scan, that read-ahead should stop.
    static let sizeWindow = 16

    /// The largest size field among a file's first few records (0 if there is none).
    static func largestLeadingRecord(_ file: MappedFile, xorKey: XorKey) -> Int {
        var offset = 0, largest = 0
        var head: [UInt8] = []
        for _ in 0..<sizeSamples where offset + 8 <= file.bytes.count {
            xorKey.copyApplying(from: UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + 8)]), fileOffset: offset, into: &head)
            let size = Int(UInt32(littleEndian: head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }))
            largest = max(largest, size)
            offset += 8 + size
        }
        return largest
    }

    /// Highest height accepted as a base height: above any network's chain for centuries to come,
    /// and far from overflowing heights computed from it.
    public static let maxBaseHeight = 100_000_000

    /// Builds the tree from `records`, which it empties (the entries take their place: at a
    /// mainnet's length, holding both would cost a hundred megabytes more).
    private mutating func chooseBestChain(_ records: inout [HeaderRecord], directory: BlocksDirectory, givenBaseHeight: Int?) throws(ChainIndexError) {
        entries = records.map(BlockEntry.init)
        records = []
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
        let genesis = directory.network.genesisHash
        if let g = positionByHash.find(genesis, in: entries) {
            roots = [g]
        } else {
            roots = (0..<n).filter { isFirstRecord($0) && parent[$0] < 0 }
        }
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
            notes.append("the genesis block is not in \(directory.path) (pruned?): chain starts at block \(entries[bestRoot].hash), height \(baseHeight) \(source)")
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
        bestChain = chain.reversed()
        // Duplicates carry their first record's height and work.
        for i in entries.indices {
            if case let .duplicate(of: first) = entries[i].status {
                entries[i].height = entries[first].height
                entries[i].cumulativeWork = entries[first].cumulativeWork
            }
        }
    }

    /// Whether the best chain has block `hash` at `height`.
    public func bestChainContains(_ hash: BlockHash, atHeight height: Int) -> Bool {
        entry(atHeight: height)?.hash == hash
    }

    /// Cumulative work of the best chain's tip.
    public var bestWork: UInt256 { tip?.cumulativeWork ?? .zero }
}
