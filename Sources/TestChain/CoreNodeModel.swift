import BitcoinWire
import BlockFiles

/// Models what Bitcoin Core does with blocks as they arrive (headers already known, as in
/// headers-first sync): store each block on arrival, give it a sequence id once it and all its
/// ancestors have data, make the chain with the most work the active chain (first-received wins a
/// tie), and write undo data for each block the first time it is connected.
///
/// All generated blocks have the same difficulty, so "most work" is "greatest height" here.
final class CoreNodeModel {
    final class Entry {
        let hash: BlockHash
        let previous: BlockHash
        let height: Int
        var undo: [UInt8]?
        var file = -1
        var hasData = false
        var sequenceId = -1
        var undoWritten = false
        var everConnected = false
        var children: [BlockHash] = []   // waiting for this block's data, in arrival order

        init(hash: BlockHash, previous: BlockHash, height: Int) {
            self.hash = hash
            self.previous = previous
            self.height = height
        }
    }

    let store: BlockStoreWriter
    private(set) var entries: [BlockHash: Entry] = [:]
    private(set) var activeChain: [BlockHash] = []
    private var bestCandidate: BlockHash
    private var nextSequenceId = 0
    private(set) var recordsWritten = 0
    private(set) var undoRecordsWritten = 0
    private(set) var reorganizations: [(forkHeight: Int, disconnected: [BlockHash])] = []

    /// Height of `activeChain[0]`: 0 from genesis, or the height of the absent parent of a pruned
    /// node's first stored block.
    let rootHeight: Int

    /// A node that stored the chain from `genesis` on.
    convenience init(store: BlockStoreWriter, genesis: [UInt8], genesisHash: BlockHash) throws {
        try self.init(store: store, rootHash: genesisHash, rootHeight: 0)
        let position = try genesis.withUnsafeBytes { try store.writeBlock($0, height: 0) }
        recordsWritten += 1
        entries[genesisHash]!.file = position.file
    }

    /// A node whose files start after block `rootHash` at `rootHeight` (pruned): that block is
    /// connected, but its data is not in the directory.
    init(store: BlockStoreWriter, rootHash: BlockHash, rootHeight: Int) throws {
        self.store = store
        self.rootHeight = rootHeight
        let entry = Entry(hash: rootHash, previous: .zero, height: rootHeight)
        entries[rootHash] = entry
        bestCandidate = rootHash
        entry.hasData = true
        entry.sequenceId = nextSequenceId
        nextSequenceId += 1
        entry.everConnected = true
        entry.undoWritten = true   // the root is connected without undo data (genesis) or before our files
        activeChain = [rootHash]
    }

    var tip: BlockHash { activeChain[activeChain.count - 1] }

    /// A header becomes known (headers-first sync: before any block that builds on it arrives).
    func announce(_ block: AssembledBlock) {
        if entries[block.hash] == nil {
            entries[block.hash] = Entry(hash: block.hash, previous: block.header.previousBlockHash, height: block.height)
        }
    }

    /// A block arrives: store it, then activate the best chain.
    func receive(_ block: AssembledBlock) throws {
        announce(block)
        let entry = entries[block.hash]!
        guard !entry.hasData else { return }
        let position = try block.bytes.withUnsafeBytes { try store.writeBlock($0, height: block.height) }
        recordsWritten += 1
        entry.file = position.file
        entry.hasData = true
        entry.undo = block.undo
        guard let parent = entries[entry.previous] else {
            preconditionFailure("generator bug: block \(block.hash) arrived before its parent's header")
        }
        if parent.sequenceId >= 0 {
            assignSequenceIds(from: entry)
        } else {
            parent.children.append(entry.hash)
        }
        try activateBestChain()
    }

    /// Core's `ReceivedBlockTransactions`: the block and every waiting descendant, breadth first.
    private func assignSequenceIds(from start: Entry) {
        var queue = [start]
        var index = 0
        while index < queue.count {
            let entry = queue[index]
            index += 1
            entry.sequenceId = nextSequenceId
            nextSequenceId += 1
            if entry.height > entries[bestCandidate]!.height { bestCandidate = entry.hash }
            for child in entry.children { queue.append(entries[child]!) }
            entry.children = []
        }
    }

    private func activateBestChain() throws {
        guard bestCandidate != tip else { return }
        let best = entries[bestCandidate]!
        // Path from the candidate back to the active chain.
        var path: [Entry] = []
        var cursor = best
        while cursor.height - rootHeight >= activeChain.count || activeChain[cursor.height - rootHeight] != cursor.hash {
            path.append(cursor)
            cursor = entries[cursor.previous]!
        }
        let forkHeight = cursor.height
        let forkPosition = forkHeight - rootHeight
        if forkPosition < activeChain.count - 1 {
            reorganizations.append((forkHeight, Array(activeChain[(forkPosition + 1)...])))
            activeChain.removeLast(activeChain.count - 1 - forkPosition)
        }
        for entry in path.reversed() {
            if !entry.undoWritten, let undo = entry.undo {
                try store.writeUndo(undo, previousBlockHash: entry.previous, blockFile: entry.file, height: entry.height)
                undoRecordsWritten += 1
                entry.undoWritten = true
                entry.undo = nil
            }
            entry.everConnected = true
            activeChain.append(entry.hash)
        }
    }
}
