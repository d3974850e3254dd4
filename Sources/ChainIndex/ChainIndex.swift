import BitcoinWire
import BlockFiles

/// One well-formed block record found by the header pass.
public struct HeaderRecord: Sendable {
    public var hash: Hash256
    public var previous: Hash256
    public var bits: UInt32
    public var location: RecordLocation
}

/// The block tree of a blocks directory, built from headers only, and its best chain.
///
/// Heights and the best chain come from proof of work alone (most cumulative work from the
/// network's genesis; the earlier record wins a tie, as Core prefers the block it saw first).
public struct ChainIndex: Sendable {
    /// Every well-formed record in file order (duplicates included).
    public private(set) var records: [HeaderRecord] = []
    /// Height of each record, nil where it does not connect to the chain's root.
    public private(set) var heights: [Int?] = []
    /// Record indices of the best chain, lowest height first.
    public private(set) var bestChain: [Int] = []
    /// Height of `bestChain[0]` (0 when the genesis block is present).
    public private(set) var baseHeight = 0
    /// Framing and proof-of-work problems found (each record skipped, the scan went on).
    public private(set) var problems: [RecordProblem] = []
    /// Things a user should know (a pruned directory, an incomplete newest record).
    public private(set) var notes: [String] = []
    /// Total bytes of the blk files scanned.
    public private(set) var fileBytes = 0
    public private(set) var isOnBestChain: [Bool] = []
    /// Cumulative work from the root for each record (zero where it does not connect).
    public private(set) var cumulativeWork: [UInt256] = []
    /// Records repeating a block stored earlier.
    public private(set) var duplicateCount = 0
    /// For each record, the index of the first record of the same block (itself unless a duplicate).
    public private(set) var firstRecord: [Int] = []

    public var tipHeight: Int? { bestChain.isEmpty ? nil : baseHeight + bestChain.count - 1 }

    /// Record index of the best-chain block at `height`.
    public func recordIndex(atHeight height: Int) -> Int? {
        let i = height - baseHeight
        return i >= 0 && i < bestChain.count ? bestChain[i] : nil
    }

    /// Header pass over every `blk*.dat` in `directory`: reads only each record's 80-byte header.
    public init(directory: BlocksDirectory) throws(BlockFileError) {
        let magic = directory.network.magicValue
        var foreign: (network: Network, path: String)?
        var headerBuffer = [UInt8](repeating: 0, count: 80)
        for (n, number) in directory.blockFiles.enumerated() {
            let file = try MappedFile(path: directory.blockFilePath(number))
            fileBytes += file.bytes.count
            var scanner = RecordScanner(file: file, number: number, magic: magic, xorKey: directory.xorKey,
                                        isNewest: n == directory.blockFiles.count - 1)
            while let location = scanner.next() {
                scanner.read(offset: location.payloadOffset, length: BlockHeader.size, into: &headerBuffer)
                let (hash, previous, bits) = headerBuffer.withUnsafeBytes { raw in
                    (BlockHeader.hash(of: raw.baseAddress!),
                     Hash256(loading: raw.baseAddress! + 4),
                     UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 72, as: UInt32.self)))
                }
                guard ProofOfWork.check(hash: hash, bits: bits) else {
                    problems.append(RecordProblem(path: file.path, offset: location.offset,
                                                  message: "block \(hash) fails its own proof of work (nBits \(String(bits, radix: 16))); skipped"))
                    continue
                }
                records.append(HeaderRecord(hash: hash, previous: previous, bits: bits, location: location))
            }
            problems += scanner.problems
            if foreign == nil, let network = scanner.foreignNetwork { foreign = (network, file.path) }
            if let tail = scanner.incompleteTail {
                notes.append("\(file.path) at offset \(tail): the last record is incomplete (not yet written); ignored")
            }
        }
        if records.isEmpty, let foreign {
            throw BlockFileError(path: foreign.path, offset: 0,
                                 "holds \(foreign.network.rawValue) blocks, none for \(directory.network.rawValue): wrong --network?")
        }
        try chooseBestChain(directory: directory)
    }

    private mutating func chooseBestChain(directory: BlocksDirectory) throws(BlockFileError) {
        heights = [Int?](repeating: nil, count: records.count)
        isOnBestChain = [Bool](repeating: false, count: records.count)
        var first: [Hash256: Int] = [:]
        first.reserveCapacity(records.count)
        firstRecord = Array(records.indices)
        for (i, record) in records.enumerated() {
            if let original = first[record.hash] {
                firstRecord[i] = original
                duplicateCount += 1
            } else {
                first[record.hash] = i
            }
        }
        var children: [Hash256: [Int]] = [:]
        for i in first.values { children[records[i].previous, default: []].append(i) }
        for key in children.keys { children[key]!.sort() }

        // The root: the network's genesis, or for a pruned directory the best of the blocks whose
        // parent is missing.
        var roots: [Int]
        let genesis = directory.network.genesisHash
        if let g = first[genesis] {
            roots = [g]
        } else {
            roots = first.values.filter { first[records[$0].previous] == nil }.sorted()
        }
        guard !roots.isEmpty else { return }

        var workCache: [UInt32: UInt256] = [:]
        func work(_ bits: UInt32) -> UInt256 {
            if let w = workCache[bits] { return w }
            let w = ProofOfWork.work(bits: bits)
            workCache[bits] = w
            return w
        }
        // Breadth-first from each root (no recursion): cumulative work and depth per block.
        var bestTip = -1, bestWork = UInt256.zero, bestRoot = -1
        var depth = [Int](repeating: -1, count: records.count)
        var cumulative = [UInt256](repeating: .zero, count: records.count)
        for root in roots {
            depth[root] = 0
            cumulative[root] = work(records[root].bits)
            var queue = [root]
            var head = 0
            while head < queue.count {
                let i = queue[head]
                head += 1
                if cumulative[i] > bestWork || (cumulative[i] == bestWork && (bestTip < 0 || i < bestTip)) {
                    bestWork = cumulative[i]; bestTip = i; bestRoot = root
                }
                for child in children[records[i].hash] ?? [] where depth[child] < 0 {
                    depth[child] = depth[i] + 1
                    cumulative[child] = cumulative[i] &+ work(records[child].bits)
                    queue.append(child)
                }
            }
        }
        cumulativeWork = cumulative
        if records[bestRoot].hash == genesis {
            baseHeight = 0
        } else {
            baseHeight = try coinbaseHeight(of: records[bestRoot], directory: directory)
            notes.append("the genesis block is not in \(directory.path) (pruned?): chain starts at block \(records[bestRoot].hash), height \(baseHeight) from its BIP34 coinbase")
        }
        // Heights for everything under the chosen root; other roots' blocks stay unknown.
        var queue = [bestRoot]
        var head = 0
        heights[bestRoot] = baseHeight
        while head < queue.count {
            let i = queue[head]
            head += 1
            for child in children[records[i].hash] ?? [] {
                heights[child] = heights[i]! + 1
                queue.append(child)
            }
        }
        var chain: [Int] = []
        var cursor = bestTip
        while true {
            chain.append(cursor)
            isOnBestChain[cursor] = true
            if cursor == bestRoot { break }
            cursor = first[records[cursor].previous]!
        }
        bestChain = chain.reversed()
        // Duplicates of best-chain blocks carry the same height and are not stale.
        for i in records.indices where firstRecord[i] != i {
            heights[i] = heights[firstRecord[i]]
            cumulativeWork[i] = cumulativeWork[firstRecord[i]]
            isOnBestChain[i] = false
        }
    }

    /// Whether the best chain has block `hash` at `height`.
    public func bestChainContains(_ hash: Hash256, atHeight height: Int) -> Bool {
        recordIndex(atHeight: height).map { records[$0].hash == hash } ?? false
    }

    /// Cumulative work of the best chain's tip.
    public var bestWork: UInt256 { bestChain.last.map { cumulativeWork[$0] } ?? .zero }

    /// The first record of block `hash`, if the directory holds it.
    public func recordIndex(of hash: Hash256) -> Int? { records.firstIndex { $0.hash == hash } }

    /// Whether record `index` repeats a block stored earlier in the directory.
    public func isDuplicate(_ index: Int) -> Bool { firstRecord[index] != index }

    private func coinbaseHeight(of record: HeaderRecord, directory: BlocksDirectory) throws(BlockFileError) -> Int {
        let path = directory.blockFilePath(record.location.file)
        let file = try MappedFile(path: path)
        var buffer: [UInt8] = []
        let payload = record.location.payloadOffset
        directory.xorKey.copyApplying(from: UnsafeRawBufferPointer(rebasing: file.bytes[payload..<(payload + record.location.size)]),
                                      fileOffset: payload, into: &buffer)
        do {
            let height = try buffer.withUnsafeBytes { raw throws(WireError) -> Int? in try BlockView.parse(raw).coinbaseHeight }
            guard let height else { throw BlockFileError(path: path, offset: record.location.offset, "no BIP34 height in the coinbase of the first available block") }
            return height
        } catch let error as WireError {
            throw BlockFileError(path: path, offset: record.location.payloadOffset + error.offset, "first available block does not parse: \(error)")
        } catch let error as BlockFileError {
            throw error
        } catch {
            throw BlockFileError(path: path, offset: record.location.offset, "\(error)")
        }
    }
}
