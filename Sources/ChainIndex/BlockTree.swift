import BitcoinWire
import BlockFiles

// The block tree (btcd's `blockIndex` and `chainView`): every connected block's height and
// cumulative work, and the best chain. One routine places a block under its parent and moves
// the tip (`place(_:under:)`): the first build calls it for every block, parents first; an
// update for each block that arrives. One rule picks the better of two blocks
// (`isBetter(...)`), and one gives a duplicate its first record's place.

extension ChainIndex {
    /// The best-chain rule: most cumulative work wins; between equals, the earlier record (Core
    /// prefers the block it saw first).
    static func isBetter(work: UInt256, record: Int, than otherWork: UInt256, record other: Int) -> Bool {
        work > otherWork || (work == otherWork && record < other)
    }

    /// Builds the tree from the entries (all unconnected, as made from their records): marks
    /// duplicates, chooses the root, then places every block under it, parents first.
    mutating func buildTree(directory: BlocksDirectory) throws(ChainIndexError) {
        positionByHash = HashPositionTable(capacity: entries.nodes.count)
        for i in entries.nodes.indices {
            if let original = positionByHash.insert(entries.nodes[i].hash, position: i, in: entries.nodes) { markDuplicate(i, of: original) }
        }
        func isFirstRecord(_ i: Int) -> Bool {
            if case .duplicate = entries.nodes[i].status { return false }
            return true
        }
        // The tree as flat arrays (one hash lookup per block, no per-block allocation): each
        // block's parent record, and its children in record order (compressed: the children of
        // `p` are childList[childStart[p]..<childStart[p + 1]]).
        let n = entries.nodes.count
        var parent = [Int](repeating: -1, count: n)
        var childStart = [Int](repeating: 0, count: n + 1)
        for i in 0..<n where isFirstRecord(i) {
            if let p = positionByHash.find(entries.nodes[i].parent, in: entries.nodes) {
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

        defer { noteUnconnected() }
        // The root: the network's genesis, or for a pruned directory the block without a parent
        // whose branches hold the best tip.
        let root: Int
        if let g = positionByHash.find(genesis, in: entries.nodes) {
            root = g
        } else {
            let roots = (0..<n).filter { isFirstRecord($0) && parent[$0] < 0 }
            guard let best = bestRoot(of: roots, children: children) else { return }
            root = best
        }
        if entries.nodes[root].hash == genesis {
            if let givenBaseHeight, givenBaseHeight != 0 {
                let location = entries.nodes[root].location
                throw .genesisPresent(path: directory.blockFilePath(location.file), offset: location.offset, given: givenBaseHeight)
            }
            baseHeight = 0
        } else {
            baseHeight = try Self.firstBlockHeight(of: entries.nodes[root], directory: directory, given: givenBaseHeight)
            let source = givenBaseHeight == nil ? "from its BIP34 coinbase" : "as given"
            rootNote = "the genesis block is not in \(directory.path) (pruned?): chain starts at block \(entries.nodes[root].hash), height \(baseHeight) \(source)"
            // Its parent arriving would make another block the root.
            waitingForParent[entries.nodes[root].parent, default: []].append(root)
        }
        // Every block under the root, breadth-first (parents first, no recursion), placed as an
        // update places one; other roots' blocks stay unconnected.
        placeRoot(root, reserving: n)
        var queue = [root]
        var head = 0
        while head < queue.count {
            let i = queue[head]
            head += 1
            for child in children(i) {
                place(child, under: i)
                queue.append(child)
            }
        }
        for i in entries.nodes.indices { takeFirstRecordsPlace(i) }
    }

    /// Of several blocks without a parent (a pruned directory, or blocks of another chain), the
    /// one under which the best tip lies (the best-chain rule over every block under each).
    private func bestRoot(of roots: [Int], children: (Int) -> ArraySlice<Int>) -> Int? {
        var best: (root: Int, tip: Int, work: UInt256)?
        var costs = WorkOfBits()
        var cumulative: [Int: UInt256] = [:]
        for root in roots {
            cumulative[root] = costs.work(entries.nodes[root].bits)
            var queue = [root]
            var head = 0
            while head < queue.count {
                let i = queue[head]
                head += 1
                let work = cumulative[i]!
                if best.map({ Self.isBetter(work: work, record: i, than: $0.work, record: $0.tip) }) ?? true { best = (root, i, work) }
                for child in children(i) {
                    cumulative[child] = work &+ costs.work(entries.nodes[child].bits)
                    queue.append(child)
                }
            }
        }
        return best?.root
    }

    /// Makes `root` the tree's root at `baseHeight` and the best chain's first block.
    private mutating func placeRoot(_ root: Int, reserving capacity: Int) {
        entries.nodes[root].height = baseHeight
        entries.nodes[root].cumulativeWork = workOfBits.work(entries.nodes[root].bits)
        entries.nodes[root].status = .best
        bestChain = []
        bestChain.reserveCapacity(capacity + Self.appendHeadroom)
        bestChain.append(EntryIndex(root))
    }

    /// Places block `i` under its connected `parent`: its height and cumulative work, and the
    /// best chain's tip if it now beats the tip. The one rule for where a block stands.
    mutating func place(_ i: Int, under parent: Int) {
        entries.nodes[i].height = entries.nodes[parent].height! + 1
        entries.nodes[i].cumulativeWork = entries.nodes[parent].cumulativeWork &+ workOfBits.work(entries.nodes[i].bits)
        entries.nodes[i].status = .stale
        let tip = bestChain.last!.rawValue
        guard Self.isBetter(work: entries.nodes[i].cumulativeWork, record: i, than: entries.nodes[tip].cumulativeWork, record: tip) else { return }
        if parent == tip {
            entries.nodes[i].status = .best
            bestChain.append(EntryIndex(i))
        } else {
            makeTip(i)
        }
    }

    /// Makes connected block `tip` the best chain's tip: its branch replaces the old one above
    /// their fork point (a cost in the depth of the switch, not the chain).
    private mutating func makeTip(_ tip: Int) {
        // A connected block's way down always reaches the best chain.
        let (branch, meets) = branchToBestChain(from: tip)!
        let keep = entries.nodes[meets].height! - baseHeight + 1
        for entry in bestChain[keep...] { entries.nodes[entry.rawValue].status = .stale }
        bestChain.removeSubrange(keep...)
        for i in branch.reversed() {
            entries.nodes[i].status = .best
            bestChain.append(EntryIndex(i))
        }
    }

    /// Marks record `i` as a later record of the block whose first record is `original`.
    private mutating func markDuplicate(_ i: Int, of original: Int) {
        entries.nodes[i].status = .duplicate(of: EntryIndex(original))
        duplicateCount += 1
    }

    /// A duplicate carries its first record's height and work (which carries the block's status).
    private mutating func takeFirstRecordsPlace(_ i: Int) {
        guard case let .duplicate(of: first) = entries.nodes[i].status else { return }
        entries.nodes[i].height = entries.nodes[first.rawValue].height
        entries.nodes[i].cumulativeWork = entries.nodes[first.rawValue].cumulativeWork
    }

    /// Registers the unconnected blocks (by their parent's hash) and those of them with
    /// duplicates, for `update`.
    private mutating func noteUnconnected() {
        for i in entries.nodes.indices {
            switch entries.nodes[i].status {
            case .unconnected:
                waitingForParent[entries.nodes[i].parent, default: []].append(i)
            case let .duplicate(of: first) where entries.nodes[first.rawValue].status == .unconnected:
                unconnectedWithDuplicates.insert(first.rawValue)
            default:
                break
            }
        }
    }

    /// Builds the tree again from the entries in memory.
    mutating func rebuildTree(directory: BlocksDirectory) throws(ChainIndexError) {
        for i in entries.nodes.indices {
            entries.nodes[i].height = nil
            entries.nodes[i].cumulativeWork = .zero
            entries.nodes[i].status = .unconnected
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
    mutating func appendEntry(_ record: HeaderRecord, treeCurrent: Bool) -> Bool {
        let position = entries.nodes.count
        positionByHash.reserve(position + 1, entries: entries.nodes)
        entries.nodes.append(BlockEntry(record))
        if let original = positionByHash.insert(record.hash, position: position, in: entries.nodes) {
            markDuplicate(position, of: original)
            guard treeCurrent else { return false }
            takeFirstRecordsPlace(position)
            if entries.nodes[original].status == .unconnected { unconnectedWithDuplicates.insert(original) }
            return true
        }
        guard treeCurrent, !bestChain.isEmpty else { return false }
        let pruned = baseHeight != 0 || entries.nodes[bestChain[0].rawValue].hash != genesis
        // In a pruned directory a block's parent arriving, or the genesis block, changes the root.
        if pruned && (record.hash == genesis || waitingForParent[record.hash] != nil) { return false }
        guard let parent = positionByHash.find(record.previous, in: entries.nodes), entries.nodes[parent].height != nil else {
            // Not connected (yet): a new root of a pruned directory changes the choice of root;
            // with the genesis block present, it waits for its parent.
            if pruned { return false }
            waitingForParent[record.previous, default: []].append(position)
            return true
        }
        // The block, then the blocks that were waiting for it, each under its parent.
        var pending = [(block: position, parent: parent)]
        while let (i, p) = pending.popLast() {
            if unconnectedWithDuplicates.contains(i) { return false }
            place(i, under: p)
            for child in waitingForParent.removeValue(forKey: entries.nodes[i].hash) ?? [] { pending.append((child, i)) }
        }
        return true
    }
}

/// The work of a compact target, remembered for the last one asked (nBits changes once per
/// 2,016 blocks at most, and the division behind it is the costliest step of placing a block).
struct WorkOfBits: Sendable {
    private var lastBits: UInt32?
    private var lastWork = UInt256.zero

    mutating func work(_ bits: UInt32) -> UInt256 {
        if bits != lastBits {
            lastBits = bits
            lastWork = ProofOfWork.work(bits: bits)
        }
        return lastWork
    }
}
