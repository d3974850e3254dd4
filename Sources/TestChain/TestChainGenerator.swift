import BitcoinWire
import BlockFiles
import Foundation
import Names
import Virtualchain

/// Everything that shapes a generated chain. Same options ⇒ byte-identical output.
public struct TestChainOptions: Sendable {
    public enum Length: Sendable, Equatable {
        /// Main-chain blocks after genesis (the tip height), or from `startHeight` on.
        case blocks(Int)
        /// Keep adding blocks until the block records reach this many bytes.
        case bytes(Int)
    }

    public var network: Network = .regtest
    public var length: Length = .blocks(200)
    public var seed = "0"
    public var xor = false
    public var stale = 0
    public var reorg = false
    public var shuffleWindow = 0
    public var maxFileSize = BlockStoreWriter.defaultMaxFileSize
    public var opMix = OpMix()
    /// Upper bound of block fill; Core's limit by default.
    public var blockWeight = Limits.maxBlockWeight
    /// Number of simulated users whose coins circulate.
    public var users = 4096
    /// A state machine's story played out in the chain (`--scenario names`).
    public var scenario: Scenario?
    /// Height of the first block written, as a pruned node holds its files: 0 writes the genesis
    /// block; above 0 the first block's parent is absent (`--start-height`).
    public var startHeight = 0
    /// Highest `--start-height`: well above every network's chain (testnet3 is near 5 million).
    public static let maxStartHeight = 10_000_000

    public enum Scenario: String, Sendable, CaseIterable { case names }

    /// The op mix actually used: with the names scenario the random decoys stay off `id`, whose
    /// operations the scenario writes itself.
    public var effectiveOpMix: OpMix {
        guard scenario == .names, opMix == OpMix() else { return opMix }
        var mix = OpMix()
        mix.magics = [(Array("omni".utf8), 1), (Array("vc".utf8), 1)]
        return mix
    }

    public init() {}

    /// The smallest `--size` that holds more than one block.
    public static let minimumSize = 1024
    public static let minimumBlockWeight = 20_000
    /// Stale branches at most: each is remembered until the end of the generation.
    public static let maxStaleBranches = 10_000
    /// Arrival shuffling window at most (blocks held back in memory).
    public static let maxShuffleWindow = 100_000

    /// The `virtualchain testchain` arguments that reproduce these options (without `--out`).
    public var commandLine: String {
        var parts = ["--network", network.rawValue]
        switch length {
        case let .blocks(n): parts += ["--blocks", String(n)]
        case let .bytes(n): parts += ["--size", String(n)]
        }
        parts += ["--seed", seed]
        if xor { parts.append("--xor") }
        if stale > 0 { parts += ["--stale", String(stale)] }
        if reorg { parts.append("--reorg") }
        if shuffleWindow > 0 { parts += ["--shuffle-window", String(shuffleWindow)] }
        if maxFileSize != BlockStoreWriter.defaultMaxFileSize { parts += ["--max-file-size", String(maxFileSize)] }
        if opMix != OpMix() { parts += ["--op-mix", opMix.description] }
        if let scenario { parts += ["--scenario", scenario.rawValue] }
        if blockWeight != Limits.maxBlockWeight { parts += ["--block-weight", String(blockWeight)] }
        if startHeight != 0 { parts += ["--start-height", String(startHeight)] }
        return parts.joined(separator: " ")
    }

    /// Rejects combinations that cannot produce a chain, before anything is written.
    public func validate() throws(TestChainError) {
        switch length {
        case let .blocks(n):
            if n < 1 { throw .outOfRange(setting: .blocks, value: n, allowed: 1...Int.max) }
            if (stale > 0 || reorg) && n < 3 {
                throw .tooShortForBranches(blocks: n)
            }
        case let .bytes(n):
            if n < Self.minimumSize { throw .sizeBelowOneBlock(size: n, minimum: Self.minimumSize) }
        }
        if stale < 0 || stale > Self.maxStaleBranches { throw .outOfRange(setting: .staleBranches, value: stale, allowed: 0...Self.maxStaleBranches) }
        if shuffleWindow < 0 || shuffleWindow > Self.maxShuffleWindow { throw .outOfRange(setting: .shuffleWindow, value: shuffleWindow, allowed: 0...Self.maxShuffleWindow) }
        if blockWeight < Self.minimumBlockWeight || blockWeight > Limits.maxBlockWeight {
            throw .outOfRange(setting: .blockWeight, value: blockWeight, allowed: Self.minimumBlockWeight...Limits.maxBlockWeight)
        }
        // A serialized block is never larger than its weight, so this guarantees every block fits a file.
        if maxFileSize < blockWeight + 1024 || maxFileSize > Int(UInt32.max) {
            throw .filesTooSmallForBlocks(maxFileSize: maxFileSize, blockWeight: blockWeight)
        }
        if users < 2 { throw .outOfRange(setting: .users, value: users, allowed: 2...Int.max) }
        if startHeight < 0 || startHeight > Self.maxStartHeight {
            throw .outOfRange(setting: .startHeight, value: startHeight, allowed: 0...Self.maxStartHeight)
        }
        if scenario == .names && effectiveOpMix.magics.contains(where: { $0.bytes == Array("id".utf8) }) {
            throw .scenarioMagicInOpMix
        }
    }
}

/// Why a chain cannot be generated: options that cannot produce one, or an output directory
/// that must not be written.
public enum TestChainError: Error, CustomStringConvertible, Sendable {
    /// A setting's value outside what a chain allows.
    case outOfRange(setting: Setting, value: Int, allowed: ClosedRange<Int>)
    /// Stale branches and a reorganisation need a chain of at least 3 blocks.
    case tooShortForBranches(blocks: Int)
    /// A size that does not hold more than one block.
    case sizeBelowOneBlock(size: Int, minimum: Int)
    /// A block of the requested weight would not fit in a blk file of the requested size.
    case filesTooSmallForBlocks(maxFileSize: Int, blockWeight: Int)
    /// The decoy operation mix uses the names scenario's magic.
    case scenarioMagicInOpMix
    /// The names scenario starts at the machine's first block, below the requested start height.
    case scenarioBelowStartHeight(firstBlock: Int, startHeight: Int)
    case outputNotADirectory(path: String)
    case outputNotEmpty(path: String)
    /// The generator's model of Core's node disagrees with the chain it generated (a bug).
    case modelDiverged(modelTip: String)

    /// The bounded settings of ``TestChainOptions``.
    public enum Setting: String, Sendable {
        case blocks = "the block count"
        case staleBranches = "the number of stale branches"
        case shuffleWindow = "the shuffle window"
        case blockWeight = "the block weight"
        case users = "the number of simulated users"
        case startHeight = "the start height"
    }

    public var description: String {
        switch self {
        case let .outOfRange(setting, value, allowed):
            let option = setting.rawValue
            return allowed.upperBound == Int.max
                ? "\(option) must be at least \(allowed.lowerBound) (got \(value))"
                : "\(option) must be between \(allowed.lowerBound) and \(allowed.upperBound) (got \(value))"
        case let .tooShortForBranches(blocks):
            return "stale branches and a reorganisation need at least 3 blocks (a side branch must fork and lose), got \(blocks)"
        case let .sizeBelowOneBlock(size, minimum):
            return "a size of \(size) bytes is below one block (minimum \(minimum) bytes)"
        case let .filesTooSmallForBlocks(maxFileSize, blockWeight):
            return "a maximum file size of \(maxFileSize) bytes cannot hold a block of weight \(blockWeight); use at least \(blockWeight + 1024) bytes or a smaller block weight"
        case .scenarioMagicInOpMix:
            return "the op mix must not use the magic 'id' with the names scenario (the scenario writes the id operations)"
        case let .scenarioBelowStartHeight(firstBlock, startHeight):
            return "the names scenario plays out from the machine's first block \(firstBlock) on; the start height \(startHeight) is above it"
        case let .outputNotADirectory(path):
            return "\(path) exists and is not a directory"
        case let .outputNotEmpty(path):
            return "\(path) is not empty; refusing to overwrite it"
        case let .modelDiverged(modelTip):
            return "internal error: the modelled node ended on \(modelTip), not the generated tip"
        }
    }
}

/// What a generation produced; written as `testchain.json`.
public struct TestChainSummary: Sendable {
    public var options: TestChainOptions
    public var genesis: BlockHash
    public var tipHash: BlockHash
    public var tipHeight: Int
    /// Height of `mainChain[0]`: 0, or the start height of a pruned-like directory.
    public var firstHeight: Int
    /// Main-chain blocks in the directory, in height order (genesis first, where it is there).
    public var mainChain: [BlockHash]
    public var staleBlocks: [BlockHash]
    public var reorg: (forkHeight: Int, disconnected: [BlockHash])?
    public var records: Int
    public var undoRecords: Int
    public var transactions: Int
    public var ops: [(magic: String, count: Int)]
    public var xorKey: XorKey
    public var files: [(name: String, bytes: Int)]
    public var blockBytes: Int
    /// With a scenario: the outcome counts it intends and the consensus hash at the tip.
    public var scenarioExpected: [String: Int]?
    public var scenarioConsensusHash: String?

    public func json() -> String {
        var object: [String: Any] = [
            "format": 1,
            "command": "virtualchain testchain " + options.commandLine,
            "network": options.network.rawValue,
            "seed": options.seed,
            "genesis": genesis.displayHex,
            "tip": ["hash": tipHash.displayHex, "height": tipHeight],
            "first_height": firstHeight,
            "counts": [
                "blocks": mainChain.count,
                "records": records,
                "undo_records": undoRecords,
                "stale_blocks": staleBlocks.count,
                "transactions": transactions,
                "ops": Dictionary(uniqueKeysWithValues: ops.map { ($0.magic, $0.count) }),
            ] as [String: Any],
            "op_mix": options.effectiveOpMix.description,
            "stale_blocks": staleBlocks.map(\.displayHex),
            "xor_key": xorKey.isIdentity ? NSNull() : Hex.encode(xorKey.bytes) as Any,
            "shuffle_window": options.shuffleWindow,
            "max_file_size": options.maxFileSize,
            "block_weight": options.blockWeight,
            "bytes": blockBytes,
            "files": files.map { ["name": $0.name, "bytes": $0.bytes] },
        ]
        if let expected = scenarioExpected {
            object["scenario"] = ["name": options.scenario!.rawValue, "expected": expected,
                                  "consensus_hash": scenarioConsensusHash ?? ""] as [String: Any]
        }
        if let reorg {
            object["reorg"] = ["fork_height": reorg.forkHeight, "depth": reorg.disconnected.count,
                               "disconnected": reorg.disconnected.map(\.displayHex)] as [String: Any]
        } else {
            object["reorg"] = NSNull()
        }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// `virtualchain testchain`: writes a Bitcoin Core–style data directory (`DIR/blocks/` and
/// `DIR/testchain.json`) holding a valid chain with the requested shape.
public enum TestChainGenerator {
    public static let manifestName = "testchain.json"

    /// Checks `out` can be written: it must not exist or be an empty directory.
    public static func checkOutput(_ out: String) throws(TestChainError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) else { return }
        if !isDirectory.boolValue { throw .outputNotADirectory(path: out) }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        if !contents.isEmpty { throw .outputNotEmpty(path: out) }
    }

    public static func generate(_ options: TestChainOptions, out: String,
                                progress: ((_ height: Int, _ bytes: Int) -> Void)? = nil) throws -> TestChainSummary {
        try options.validate()
        try checkOutput(out)
        let blocksDirectory = out + "/blocks"
        try FileManager.default.createDirectory(atPath: blocksDirectory, withIntermediateDirectories: true)

        // Independent random streams, so e.g. the shuffle window never changes block contents.
        var contentRandom = SeededRandom(seed: "content:" + options.seed)
        var sideRandom = SeededRandom(seed: "side:" + options.seed)
        var planRandom = SeededRandom(seed: "plan:" + options.seed)
        var shuffleRandom = SeededRandom(seed: "shuffle:" + options.seed)
        var keyRandom = SeededRandom(seed: "xor:" + options.seed)

        var userRandom = SeededRandom(seed: "users:" + options.seed)
        let actorCount = options.scenario == nil ? 0 : NamesScenario.actorCount
        let users = (0..<(options.users + actorCount)).map { _ in
            SimulatedUser(kind: SimulatedUser.Kind.allCases[userRandom.weightedIndex([45, 20, 30, 5])], identity: userRandom.bytes(20))
        }
        var scenarioRandom = SeededRandom(seed: "scenario:" + options.seed)
        var branchRandom = SeededRandom(seed: "losing-branch:" + options.seed)
        var xorKey = XorKey.none
        if options.xor {
            repeat { xorKey = XorKey(word: keyRandom.next()) } while xorKey.bytes.contains(0) || xorKey.isIdentity
        }

        let network = options.network
        let genesis = network.genesisBlock
        let genesisBytes = genesis.serialized
        let genesisHash = genesis.header.hash
        let store = try BlockStoreWriter(directory: blocksDirectory, network: network, xorKey: xorKey, maxFileSize: options.maxFileSize)
        // The block the chain grows from: the genesis block, written first; or, for a pruned-like
        // directory, the absent parent of the first block written (a hash of its own stream).
        let rootHeight = max(0, options.startHeight - 1)
        var rootRandom = SeededRandom(seed: "root:" + options.seed)
        let rootHash = options.startHeight == 0 ? genesisHash : BlockHash(Hash256(bytes: rootRandom.bytes(32)))
        let node = options.startHeight == 0
            ? try CoreNodeModel(store: store, genesis: genesisBytes, genesisHash: genesisHash)
            : try CoreNodeModel(store: store, rootHash: rootHash, rootHeight: rootHeight)
        var shuffler = ArrivalShuffler(window: options.shuffleWindow)

        let mix = TransactionMix(blockWeight: options.blockWeight, opMix: options.effectiveOpMix)
        var assembler = BlockAssembler(network: network, users: users, randomUsers: options.users, mix: mix)
        // The names scenario runs the real machine beside the generator to learn consensus hashes
        // (only with the scenario: a plain chain involves no machine).
        let namesFirstBlock = NamesMachine.firstBlock(network: network.rawValue)
        if options.scenario != nil && options.startHeight > namesFirstBlock {
            throw TestChainError.scenarioBelowStartHeight(firstBlock: namesFirstBlock, startHeight: options.startHeight)
        }
        var scenario = options.scenario.map { _ in NamesScenario(firstActor: options.users, users: users, firstBlock: namesFirstBlock) }
        let engineDirectory = ProcessInfo.processInfo.environment["VC_DEBUG_ENGINE_STATE"] ?? FileManager.default.temporaryDirectory.appendingPathComponent("vc-testchain-\(UUID().uuidString)").path
        let engine = try scenario.map { _ in try Engine(machine: NamesMachine(firstBlock: namesFirstBlock), stateDirectory: engineDirectory, network: network) }
        defer { if ProcessInfo.processInfo.environment["VC_DEBUG_ENGINE_STATE"] == nil { try? FileManager.default.removeItem(atPath: engineDirectory) } }
        var wallet = Wallet()

        var plan = ForkPlan(options: options, random: &planRandom)
        var pendingBefore: [Int: [AssembledBlock]] = [:]   // reorg branch: arrives before the main block of its height
        var pendingAfter: [Int: [AssembledBlock]] = [:]    // stale branches: arrive after it
        var staleBlocks: [BlockHash] = []
        var reorgBranch: (forkHeight: Int, blocks: [BlockHash])?

        // Indexed by step: mainChain[step] is the main block at height rootHeight + step.
        var mainChain = [rootHash]
        var transactions = options.startHeight == 0 ? 1 : 0
        var ops = [Int](repeating: 0, count: options.effectiveOpMix.magics.count)
        var bytes = options.startHeight == 0 ? genesisBytes.count + BlockStoreWriter.recordHeaderSize : 0
        let baseTime = genesis.header.time

        func arrive(_ block: AssembledBlock) throws {
            node.announce(block)
            for ready in shuffler.push(block, random: &shuffleRandom) { try node.receive(ready) }
        }

        // The plan counts steps from the root; blocks, the node and the scenario use heights.
        var step = 0
        var height = rootHeight
        while !plan.isDone(height: step, bytes: bytes) {
            step += 1
            height = rootHeight + step
            let target = assembler.targetWeight(using: &contentRandom)
            var specials: [TransactionSpec] = []
            var extras: [TxOut] = []
            if scenario != nil, let engine {
                specials = scenario!.plan(height: height, consensus: engine.consensus, rng: &scenarioRandom)
                extras = scenario!.coinbaseFunding(height: height, network: network)
            }
            let block = assembler.assemble(height: height, previous: mainChain[step - 1],
                                           time: blockTime(baseTime, height), targetWeight: target,
                                           wallet: &wallet, rng: &contentRandom, specials: specials, coinbaseExtras: extras)
            if scenario != nil, let engine {
                scenario!.didAssemble(block)
                if height >= namesFirstBlock { try engine.process(block: block.bytes, height: height, undo: block.undo) }
            }
            for side in pendingBefore.removeValue(forKey: height) ?? [] { try arrive(side) }
            try arrive(block)
            for side in pendingAfter.removeValue(forKey: height) ?? [] { try arrive(side) }
            mainChain.append(block.hash)
            transactions += block.transactionCount
            for i in ops.indices { ops[i] += block.opCounts[i] }
            bytes += block.bytes.count + BlockStoreWriter.recordHeaderSize
            progress?(height, bytes)

            // Side branches fork from the block just made, spending a copy of its coins.
            for length in plan.staleBranches(at: step, bytes: bytes, random: &planRandom) {
                let branch = sideBranch(from: height, length: length, timeOffset: 1, wallet: wallet, assembler: &assembler,
                                        forkHash: mainChain[step], baseTime: baseTime, rng: &sideRandom)
                for block in branch {
                    node.announce(block)
                    pendingAfter[block.height, default: []].append(block)
                    staleBlocks.append(block.hash)
                }
            }
            if let depth = plan.reorgBranch(at: step, bytes: bytes, random: &planRandom) {
                // With a scenario, the losing branch carries registrations, updates and transfers of
                // its own (planned on a copy), so a rollback has real operations to undo.
                var branchScenario = scenario?.forLosingBranch()
                let branch = sideBranch(from: height, length: depth, timeOffset: 2, wallet: wallet, assembler: &assembler,
                                        forkHash: mainChain[step], baseTime: baseTime, rng: &sideRandom,
                                        specials: { branchHeight in
                                            guard branchScenario != nil, let engine else { return [] }
                                            return branchScenario!.plan(height: branchHeight, consensus: engine.consensus, rng: &branchRandom,
                                                                        weights: NamesScenario.losingBranchWeights, operations: 3)
                                        },
                                        didAssemble: { block in branchScenario?.didAssemble(block) })
                for block in branch {
                    node.announce(block)
                    pendingBefore[block.height, default: []].append(block)
                    staleBlocks.append(block.hash)
                }
                reorgBranch = (height, branch.map(\.hash))
            }
        }
        for ready in shuffler.finish() { try node.receive(ready) }
        guard node.tip == mainChain[mainChain.count - 1] else {
            throw TestChainError.modelDiverged(modelTip: "\(node.tip)")
        }
        store.close()

        let files = try FileManager.default.contentsOfDirectory(atPath: blocksDirectory).sorted().map { name in
            let attributes = try FileManager.default.attributesOfItem(atPath: blocksDirectory + "/" + name)
            return (name: name, bytes: (attributes[.size] as? NSNumber)?.intValue ?? 0)
        }
        let summary = TestChainSummary(
            options: options, genesis: genesisHash, tipHash: mainChain[mainChain.count - 1], tipHeight: height,
            firstHeight: options.startHeight, mainChain: options.startHeight == 0 ? mainChain : Array(mainChain.dropFirst()),
            staleBlocks: staleBlocks,
            reorg: reorgBranch.map { ($0.forkHeight, $0.blocks) },
            records: node.recordsWritten, undoRecords: node.undoRecordsWritten, transactions: transactions,
            ops: zip(options.effectiveOpMix.magics, ops).map { (OpMix.magicText($0.0.bytes), $0.1) },
            xorKey: xorKey, files: files, blockBytes: bytes,
            scenarioExpected: scenario?.expected, scenarioConsensusHash: engine?.consensus.last?.hex)
        try summary.json().write(toFile: out + "/" + manifestName, atomically: true, encoding: .utf8)
        return summary
    }

    /// Ten minutes per block after the genesis time (saturating far beyond any real height).
    static func blockTime(_ baseTime: UInt32, _ height: Int, offset: UInt32 = 0) -> UInt32 {
        UInt32(clamping: Int(baseTime) + 600 * height + Int(offset))
    }

    /// A side branch of `length` blocks on top of main block `forkHeight`, with a few transactions
    /// spending a private copy of the wallet's coins (so the main chain's coins are untouched).
    private static func sideBranch(from forkHeight: Int, length: Int, timeOffset: UInt32, wallet: Wallet,
                                   assembler: inout BlockAssembler, forkHash: BlockHash, baseTime: UInt32,
                                   rng: inout SeededRandom,
                                   specials: (Int) -> [TransactionSpec] = { _ in [] },
                                   didAssemble: (AssembledBlock) -> Void = { _ in }) -> [AssembledBlock] {
        var branchWallet = wallet.sample(400, using: &rng)
        var previous = forkHash
        var blocks: [AssembledBlock] = []
        for i in 1...length {
            let height = forkHeight + i
            let block = assembler.assemble(height: height, previous: previous,
                                           time: blockTime(baseTime, height, offset: timeOffset),
                                           targetWeight: rng.int(10_000...60_000), wallet: &branchWallet, rng: &rng,
                                           specials: specials(height))
            didAssemble(block)
            blocks.append(block)
            previous = block.hash
        }
        return blocks
    }
}

/// Where side branches fork. With `--blocks` the heights are drawn up front; with `--size` at
/// fractions of the target size, and the main chain then grows until every branch has lost.
struct ForkPlan {
    private var staleHeights: [Int] = []
    private var staleFractions: [Double] = []
    private var reorgHeight: Int?
    private var reorgFraction: Double?
    private let length: TestChainOptions.Length
    /// The main chain must reach this height for every side branch to have less work.
    private var requiredHeight = 0

    init(options: TestChainOptions, random: inout SeededRandom) {
        length = options.length
        switch options.length {
        case let .blocks(n):
            let low = max(0, min(n - 2, 101))
            staleHeights = (0..<options.stale).map { _ in random.int(low...(n - 2)) }.sorted()
            if options.reorg { reorgHeight = random.int(max(low, min(n - 2, n * 2 / 3))...(n - 2)) }
        case .bytes:
            staleFractions = (0..<options.stale).map { _ in 0.05 + 0.85 * random.unit() }.sorted()
            if options.reorg { reorgFraction = 0.5 + 0.3 * random.unit() }
        }
    }

    func isDone(height: Int, bytes: Int) -> Bool {
        switch length {
        case let .blocks(n): return height >= n
        case let .bytes(size): return bytes >= size && height >= requiredHeight && height >= 1
        }
    }

    private func progress(height: Int, bytes: Int) -> Double {
        switch length {
        case let .blocks(n): return Double(height) / Double(n)
        case let .bytes(size): return Double(bytes) / Double(size)
        }
    }

    /// Lengths of the stale branches that fork from main block `height`.
    mutating func staleBranches(at height: Int, bytes: Int, random: inout SeededRandom) -> [Int] {
        var lengths: [Int] = []
        if case let .blocks(n) = length {
            while let first = staleHeights.first, first <= height {
                staleHeights.removeFirst()
                lengths.append(min(random.int(1...3), n - height - 1))
            }
        } else {
            let p = progress(height: height, bytes: bytes)
            while let first = staleFractions.first, first <= p {
                staleFractions.removeFirst()
                lengths.append(random.int(1...3))
            }
        }
        for l in lengths { requiredHeight = max(requiredHeight, height + l + 1) }
        return lengths.filter { $0 > 0 }
    }

    /// Depth of the branch that is connected first and later loses to the main chain, if it forks here.
    mutating func reorgBranch(at height: Int, bytes: Int, random: inout SeededRandom) -> Int? {
        var depth: Int?
        if case let .blocks(n) = length, let h = reorgHeight, h <= height {
            reorgHeight = nil
            depth = min(random.int(1...3), n - height - 1)
        } else if let f = reorgFraction, f <= progress(height: height, bytes: bytes) {
            reorgFraction = nil
            depth = random.int(1...3)
        }
        if let depth { requiredHeight = max(requiredHeight, height + depth + 1) }
        return depth.flatMap { $0 > 0 ? $0 : nil }
    }
}

/// Reorders blocks as headers-first download does: each block is stored at most `window`
/// positions away from where it would be in height order.
struct ArrivalShuffler {
    let window: Int
    private var waiting: [(key: Int, sequence: Int, block: AssembledBlock)] = []
    private var sequence = 0

    init(window: Int) { self.window = window }

    /// Adds the next block in natural order; returns the blocks whose turn has come.
    mutating func push(_ block: AssembledBlock, random: inout SeededRandom) -> [AssembledBlock] {
        guard window > 0 else { return [block] }
        let key = sequence + random.int(0...window)
        let item = (key: key, sequence: sequence, block: block)
        let index = waiting.firstIndex { ($0.key, $0.sequence) > (key, sequence) } ?? waiting.count
        waiting.insert(item, at: index)
        var ready: [AssembledBlock] = []
        // Every later block gets a key above `sequence`, so these can no longer be overtaken.
        while let first = waiting.first, first.key <= sequence {
            ready.append(waiting.removeFirst().block)
        }
        sequence += 1
        return ready
    }

    mutating func finish() -> [AssembledBlock] {
        defer { waiting = [] }
        return waiting.map(\.block)
    }
}
