import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex
@testable import Names
@testable import Reference
@testable import TestChain
@testable import Virtualchain

/// A generated names-scenario chain with every feature on, shared by the engine tests.
final class ScenarioChain: @unchecked Sendable {
    static let shared = try! ScenarioChain()
    let root: URL
    let blocks: URL
    let summary: TestChainSummary

    init() throws {
        root = try TestPaths.temporaryDirectory("scenario")
        var options = TestChainOptions()
        options.length = .blocks(400)
        options.seed = "3"
        options.scenario = .names
        options.xor = true
        options.stale = 3
        options.reorg = true
        options.shuffleWindow = 10
        options.blockWeight = 60_000
        summary = try TestChainGenerator.generate(options, out: root.path)
        blocks = root.appendingPathComponent("blocks")
    }

    func directory() throws -> BlocksDirectory { try BlocksDirectory(path: blocks.path, network: .regtest) }
}

func importNames(_ blocks: BlocksDirectory, into state: URL, until: Int? = nil) throws -> ReplaySummary {
    let engine = try Engine(machine: NamesMachine(firstBlock: 1), stateDirectory: state.path, network: .regtest)
    return try engine.run(directory: blocks, index: ChainIndex(directory: blocks), until: until,
                          passOptions: BlockPassOptions(threads: 2, window: 8))
}

func export(_ state: URL) throws -> String {
    let result = try runCLI(["export", "--state", state.path])
    #expect(result.status == 0, "\(result.stderr)")
    return result.stdout
}

@Suite(.serialized) struct EngineTests {
    let chain = ScenarioChain.shared

    @Test func everyIntendedOutcomeHappensAndEachInvalidKindIsCounted() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        let summary = try importNames(chain.directory(), into: state)
        #expect(summary.unresolved == 0)
        #expect(!summary.usedFallback)
        let counts = Dictionary(uniqueKeysWithValues: try StateStore(directory: state.path).counts().map { ($0.kind, $0.count) })
        #expect(counts == chain.summary.scenarioExpected!)
        for kind in ["stale consensus hash", "wrong sender", "unpaid", "duplicate", "expired", "revoked"] {
            #expect((counts["rejected:" + kind] ?? 0) > 0, "no '\(kind)' rejection in the scenario")
        }
        #expect((counts["dropped"] ?? 0) > 0)
        for op in ["?", ":", "+", ">", "~"] { #expect((counts["accepted:" + op] ?? 0) > 0, "no accepted '\(op)'") }
        #expect(summary.consensusHash?.hex == chain.summary.scenarioConsensusHash)
    }

    @Test func importTwiceResumeAndRebuildGiveIdenticalExports() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let a = root.appendingPathComponent("a"), b = root.appendingPathComponent("b"), c = root.appendingPathComponent("c")
        _ = try importNames(chain.directory(), into: a)
        _ = try importNames(chain.directory(), into: b)
        // In two steps: resume where the state left off.
        _ = try importNames(chain.directory(), into: c, until: 217)
        #expect(try StateStore(directory: c.path).tip()?.height == 217)
        let resumed = try importNames(chain.directory(), into: c)
        #expect(resumed.firstHeight == 218)
        let exportA = try export(a)
        #expect(exportA.split(separator: "\n").count == 400)
        #expect(try export(b) == exportA)
        #expect(try export(c) == exportA)
        // rebuild replaces the state only once the new one is complete.
        let rebuilt = try runCLI(["rebuild", "--blocksdir", chain.blocks.path, "--network", "regtest", "--machine", "names", "--state", a.path, "--quiet"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(try export(a) == exportA)
        #expect(!FileManager.default.fileExists(atPath: a.path + ".rebuild"))
        #expect(!FileManager.default.fileExists(atPath: a.path + ".old"))
    }

    /// A block row whose hash is not of its size or type (text where bytes belong, a short
    /// blob), or a record whose txid is not one, is refused with its height by the engine, by
    /// `export` and by `status`: never read as a hash, never a crash.
    @Test func damagedHashRowsAreRefusedWithTheirBlock() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cases = [("text", "UPDATE vc_blocks SET consensus_hash = lower(hex(consensus_hash)) WHERE height = 100", "block 100: consensus_hash is not a hash"),
                     ("short", "UPDATE vc_blocks SET block_hash = x'0102' WHERE height = 150", "block 150: block_hash is not a hash"),
                     ("txid", "UPDATE vc_records SET txid = 'not hex' WHERE height = (SELECT min(height) FROM vc_records WHERE txid IS NOT NULL)",
                      "vc_records.txid is not a hash")]
        for (name, damage, message) in cases {
            let damaged = root.appendingPathComponent(name)
            _ = try importNames(chain.directory(), into: damaged, until: 150)
            let database = try SQLiteDatabase(path: damaged.appendingPathComponent(StateStore.fileName).path)
            try database.execute(damage)
            database.close()
            let exported = try runCLI(["export", "--state", damaged.path])
            #expect(exported.status == 1 && exported.stderr.contains(message), "\(name): \(exported.stderr)")
            if name == "txid" { continue }  // the engine reads no record back
            #expect {
                _ = try importNames(chain.directory(), into: damaged)
            } throws: { error in
                "\(error)".contains("state.sqlite: " + message)
            }
        }
    }

    @Test func exportRehashedByAnIndependentImplementation() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        _ = try importNames(chain.directory(), into: state)
        let file = state.appendingPathComponent("export.jsonl")
        try Data(try export(state).utf8).write(to: file)
        let result = try runPython("consensus_rehash.py", [file.path, "1"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("\"blocks\": 400, \"mismatches\": []"), "\(result.stdout)")
    }

    @Test func withoutUndoFilesSendersComeFromAnExtraPass() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let blkOnly = root.appendingPathComponent("blocks")
        try FileManager.default.createDirectory(at: blkOnly, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: chain.blocks.path) where !name.hasPrefix("rev") {
            try FileManager.default.createSymbolicLink(at: blkOnly.appendingPathComponent(name), withDestinationURL: chain.blocks.appendingPathComponent(name))
        }
        let withUndo = root.appendingPathComponent("with"), without = root.appendingPathComponent("without")
        _ = try importNames(chain.directory(), into: withUndo)
        let summary = try importNames(BlocksDirectory(path: blkOnly.path, network: .regtest), into: without)
        #expect(summary.usedFallback)
        #expect(summary.unresolved == 0)
        #expect(try export(without) == export(withUndo))
    }

    @Test func stateOfAnotherMachineOrNetworkIsRefused() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        _ = try importNames(chain.directory(), into: state, until: 50)
        #expect(throws: EngineError.self) { _ = try Engine(machine: NotaryMachine(), stateDirectory: state.path, network: .regtest) }
        #expect(throws: EngineError.self) { _ = try Engine(machine: NamesMachine(firstBlock: 1), stateDirectory: state.path, network: .testnet4) }
        let cli = try runCLI(["import", "--blocksdir", chain.blocks.path, "--network", "regtest", "--machine", "reference", "--state", state.path])
        #expect(cli.status == 1)
        #expect(cli.stderr.contains("holds state of names"))
        #expect(try StateStore(directory: state.path).tip()?.height == 50)  // nothing lost
    }

    @Test func statusVerifyAndSQLiteQueries() throws {
        let state = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: state) }
        let imported = try runCLI(["import", "--blocksdir", chain.blocks.path, "--network", "regtest", "--machine", "names", "--state", state.path])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("blocks 1-400"))
        let status = try runCLI(["status", "--state", state.path, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as! [String: Any]
        #expect(object["machine"] as? String == "names")
        #expect(object["height"] as? Int == 400)
        let hash = try #require(object["consensus_hash"] as? String)
        #expect(try runCLI(["verify", "--state", state.path, "--height", "400", "--consensus-hash", hash]).status == 0)
        #expect(try runCLI(["verify", "--state", state.path, "--height", "400", "--consensus-hash", String(repeating: "0", count: 32)]).status == 1)
        // The state is an ordinary SQLite database.
        let sqlite = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["sqlite3", state.path + "/state.sqlite", "SELECT count(*) FROM names WHERE revoked = 1"])
        #expect(sqlite.status == 0, "\(sqlite.stderr)")
        #expect(Int(sqlite.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == chain.summary.scenarioExpected!["accepted:~"])
    }
}

@Suite struct ReferenceMachineTests {
    @Test func notaryAcceptsEveryFirstStamp() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .blocks(160)
        options.seed = "notary"
        options.opMix = try OpMix(parsing: "rate=0.2,magics=vc:1,payload=32,malformed=0,foreign=0,multi=0,opcodes=s")
        let summary = try TestChainGenerator.generate(options, out: root.appendingPathComponent("chain").path)
        let stamps = try #require(summary.ops.first { $0.magic == "vc" }?.count)
        #expect(stamps > 20)
        let state = root.appendingPathComponent("state")
        let result = try runCLI(["import", "--blocksdir", root.appendingPathComponent("chain/blocks").path, "--network", "regtest",
                                 "--machine", "reference", "--state", state.path])
        #expect(result.status == 0, "\(result.stderr)")
        let counts = try StateStore(directory: state.path).counts()
        #expect(counts.map(\.kind) == ["accepted:s"])
        #expect(counts.first?.count == stamps)
    }
}

@Suite struct UndoDecodingTests {
    @Test func p2pkKeysDecompressOnSecp256k1() {
        let gx = [UInt8](hex: "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")!
        let gy = [UInt8](hex: "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")!
        #expect(PublicKey.decompress(x: gx, oddY: false) == [0x04] + gx + gy)
        #expect(PublicKey.decompress(x: [UInt8](repeating: 0xff, count: 32), oddY: false) == nil)  // not on the curve
        // Round trip through Core's compressed script encoding (type 4: even y).
        let script = Script.p2pk([0x04] + gx + gy)
        var writer = ByteWriter()
        UndoFormat.writeCompressedScript(script, to: &writer, isValidUncompressedKey: PublicKey.isValidUncompressed)
        #expect(writer.bytes.count == 33 && writer.bytes[0] == 0x04)
        let decoded = try? writer.bytes.withUnsafeBytes { raw throws(WireError) -> [UInt8] in
            var cursor = ByteCursor(raw)
            return try UndoFormat.readCompressedScript(from: &cursor)
        }
        #expect(decoded == script)
    }

    /// Bitcoin Core writes the undo data; what we decode from it must equal what Core reports each
    /// transaction spent, for every transaction.
    @Test(.enabled(if: pythonHas(["pbk"]) || TestPaths.inCI, "py-bitcoinkernel not installed"))
    func sendersAndFeesFromCoresUndoFiles() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .blocks(170)
        options.seed = "undo"
        options.stale = 2
        options.reorg = true
        options.shuffleWindow = 6
        options.blockWeight = 120_000
        let generated = root.appendingPathComponent("generated"), core = root.appendingPathComponent("core")
        _ = try TestChainGenerator.generate(options, out: generated.path)
        let dump = root.appendingPathComponent("spent.jsonl")
        let check = try runPython("kernel_check.py", [generated.path, core.path, "--dump-spent", dump.path])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr.suffix(1500))")
        var expected: [String: [[[Any]]]] = [:]
        for line in try String(contentsOf: dump, encoding: .utf8).split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            expected[object["hash"] as! String] = object["spent"] as? [[[Any]]]
        }
        let directory = try BlocksDirectory(path: core.appendingPathComponent("blocks").path, network: .regtest)
        let index = try ChainIndex(directory: directory)
        let resolver = try SenderResolver(directory: directory, index: index, entries: Array(index.bestChain.dropFirst()), filter: OperationFilter(magic: Array("id".utf8)), passOptions: BlockPassOptions())
        var transactions = 0, inputs = 0
        try BlockPass(directory: directory, index: index).run(entries: Array(index.bestChain.dropFirst()), transform: { block -> (String, [[SpentCoin]]?, [Int64]) in
            (block.hash.displayHex, try resolver.allSpentCoins(for: block),
             block.view.transactions.dropFirst().map { $0.outputs().reduce(Int64(0)) { $0 + $1.value } })
        }, consume: { _, result in
            let (hash, spent, paid) = result
            let ours = try #require(spent, "no undo record found for block \(hash)")
            let theirs = try #require(expected[hash], "Core reported nothing for \(hash)")
            #expect(ours.count == theirs.count, "\(hash)")
            for (i, (mine, core)) in zip(ours, theirs).enumerated() {
                #expect(mine.map(\.output.value) == core.map { ($0[0] as! NSNumber).int64Value }, "values of tx \(i + 1) in \(hash)")
                #expect(mine.map { Hex.encode($0.output.scriptPubKey) } == core.map { $0[1] as! String }, "scripts of tx \(i + 1) in \(hash)")
                let fee = mine.reduce(Int64(0)) { $0 + $1.output.value } - paid[i]
                #expect(fee >= 0)
                transactions += 1
                inputs += mine.count
            }
        })
        #expect(transactions > 1_000)
        #expect(inputs > transactions)
    }
}
