import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Virtualchain

/// ../shared/spec/nulldata-vectors.json: which operation a transaction carries, computed with the
/// original virtualchain's algorithm. Every case through the filter, through a plain transcription
/// of the original (TestSupport's `OriginalNullDataRule`), through `ops` and through an import.
@Suite struct NullDataVectorTests {
    static let vectorsURL = TestPaths.sharedSpec.appendingPathComponent("nulldata-vectors.json")
    /// Locally the tests skip without `../shared`; in CI they run and fail without their oracle.
    static let available = FileManager.default.fileExists(atPath: vectorsURL.path) || TestPaths.inCI

    struct Case {
        var name: String
        var outputs: [[UInt8]]
        var expected: (opcode: UInt8, payload: [UInt8])?
    }

    static func load() throws -> (magic: [UInt8], cases: [Case]) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: vectorsURL)) as! [String: Any]
        let cases = (json["cases"] as! [[String: Any]]).map { c in
            let expected = (c["expected"] as? [String: Any]).map { (UInt8($0["opcode"] as! Int), [UInt8](hex: $0["payload"] as! String)!) }
            return Case(name: c["name"] as! String, outputs: (c["outputs"] as! [String]).map { [UInt8](hex: $0)! }, expected: expected)
        }
        return ([UInt8](hex: json["magic"] as! String)!, cases)
    }

    /// Case `i` as its own transaction: its outputs exactly, an input of its own (distinct txids).
    static func transaction(_ c: Case, index: Int) -> Transaction {
        Transaction(version: 2, inputs: [TxIn(previousOutput: OutPoint(txid: Txid(Hash256(bytes: [UInt8](repeating: UInt8(index + 1), count: 32))), index: 0),
                                              scriptSig: [0x51])],
                    outputs: c.outputs.map { TxOut(value: 0, scriptPubKey: $0) })
    }

    static func filtered(_ tx: Transaction, magic: [UInt8]) throws -> (opcode: UInt8, payload: [UInt8])? {
        let bytes = tx.serialized()
        return try bytes.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            let view = try TransactionView.parse(from: &cursor)
            return OperationFilter(magic: magic).operation(in: view).map { ($0.opcode, Array($0.payload)) }
        }
    }

    @Test(.enabled(if: available, "needs ../shared/spec/nulldata-vectors.json"))
    func everyCaseThroughTheFilterAndTheOriginalsRule() throws {
        let (magic, cases) = try Self.load()
        #expect(cases.count >= 30)
        for (i, c) in cases.enumerated() {
            let ours = try Self.filtered(Self.transaction(c, index: i), magic: magic)
            #expect(ours?.opcode == c.expected?.opcode && ours?.payload == c.expected?.payload, "filter: \(c.name)")
            let original = OriginalNullDataRule.operation(outputs: c.outputs, magic: magic)
            #expect(original?.opcode == c.expected?.opcode && original?.payload == c.expected?.payload, "original's rule: \(c.name)")
        }
    }

    /// Random output scripts, biased toward OP_RETURN and push opcodes: the filter decides as
    /// the original's tokenizer does (the FuzzNullData target runs the same comparison unbounded).
    @Test func randomScriptsDecideAsTheOriginal() throws {
        var rng = SystemRandomNumberGenerator()
        var seed = UInt64.random(in: 0...UInt64.max, using: &rng)
        let startSeed = seed
        func next() -> UInt64 {  // splitmix64: reproducible from the seed printed on failure
            seed &+= 0x9e37_79b9_7f4a_7c15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        let interesting: [UInt8] = [0x6a, 0x00, 0x01, 0x02, 0x03, 0x04, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x51, 0x60, 0x69, 0x64, 0x61]
        let magic = Array("id".utf8)
        for _ in 0..<20_000 {
            let outputCount = Int(next() % 4) + 1
            let outputs: [[UInt8]] = (0..<outputCount).map { _ in
                let length = Int(next() % 12)
                var script = (0..<length).map { _ in next() % 3 == 0 ? UInt8(truncatingIfNeeded: next()) : interesting[Int(next() % UInt64(interesting.count))] }
                if next() % 4 != 0 && !script.isEmpty { script[0] = 0x6a }
                if next() % 3 == 0 && script.count >= 4 { script[1] = 0x02; script[2] = 0x69; script[3] = 0x64 }
                return script
            }
            let original = OriginalNullDataRule.operation(outputs: outputs, magic: magic)
            let ours = try Self.filtered(Self.transaction(Case(name: "", outputs: outputs, expected: nil), index: 0), magic: magic)
            #expect(ours?.opcode == original?.opcode && ours?.payload == original?.payload,
                    "outputs \(outputs.map { Hex.encode($0) }) (seed \(startSeed))")
            if ours?.opcode != original?.opcode || ours?.payload != original?.payload { return }
        }
    }

    /// Every case in its own transaction of one block: `ops` lists exactly the expected
    /// operations, and an import hands exactly those to a machine that takes every opcode.
    @Test(.enabled(if: available, "needs ../shared/spec/nulldata-vectors.json"))
    func everyCaseThroughOpsAndAnImport() throws {
        let (magic, cases) = try Self.load()
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let blocks = root.appendingPathComponent("blocks")
        try FileManager.default.createDirectory(at: blocks, withIntermediateDirectories: true)
        let transactions = cases.enumerated().map { Self.transaction($1, index: $0) }
        let block = regtestBlock(transactions)
        let record = { (bytes: [UInt8]) in Network.regtest.magic + withUnsafeBytes(of: UInt32(bytes.count).littleEndian, Array.init) + bytes }
        try Data(record(Network.regtest.genesisBlock.serialized) + record(block)).write(to: blocks.appendingPathComponent("blk00000.dat"))
        // vtxindex i + 1 carries case i (0 is the coinbase).
        var expected: [Int: (opcode: UInt8, payload: [UInt8])] = [:]
        for (i, c) in cases.enumerated() { if let e = c.expected { expected[i + 1] = e } }

        let listed = try runCLI(["ops", "--blocksdir", blocks.path, "--network", "regtest", "--magic", "0x" + Hex.encode(magic)])
        #expect(listed.status == 0, "\(listed.stderr)")
        var seen: [Int: (opcode: UInt8, payload: [UInt8])] = [:]
        for line in listed.stdout.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            seen[object["vtxindex"] as! Int] = ([UInt8](hex: object["opcode"] as! String)![0], [UInt8](hex: object["payload"] as! String)!)
        }
        #expect(seen.keys.sorted() == expected.keys.sorted(), "ops lists \(seen.keys.sorted().map { cases[$0 - 1].name })")
        for (vtxindex, e) in expected {
            #expect(seen[vtxindex]?.opcode == e.opcode && seen[vtxindex]?.payload == e.payload, "ops: \(cases[vtxindex - 1].name)")
        }

        let engine = try Engine(machine: EveryOpcode(), stateDirectory: root.appendingPathComponent("state").path, network: .regtest)
        let outcome = try engine.process(block: block, height: 1, undo: undoData(forTransactions: transactions.count))
        #expect(outcome.accepted == expected.count)
        let records = try engine.store.records(atHeight: 1)
        #expect(records.compactMap(\.vtxindex) == expected.keys.sorted())
        for record in records {
            let e = expected[record.vtxindex ?? -1]
            #expect(record.serialized == EveryOpcode.serialization(opcode: e?.opcode ?? 0, payload: e?.payload ?? []))
        }
    }
}

/// Accepts every operation of magic `id` whatever its opcode, recording opcode and payload.
struct EveryOpcode: StateMachine {
    static let identity = "every-opcode"
    static let version = 1
    let magic = Array("id".utf8)
    let firstBlock = 1
    let opcodes = Set(UInt8.min...UInt8.max)
    let migrations: [String] = []
    func parse(_ candidate: Candidate) -> (UInt8, [UInt8])? { (candidate.opcode, Array(candidate.payload)) }
    func check(_ op: (UInt8, [UInt8]), in block: BlockContext) throws {}
    func commit(_ op: (UInt8, [UInt8]), in block: BlockContext) throws -> [ConsensusRecord] {
        [ConsensusRecord(opcode: UInt8(ascii: "x"), fields: [.integer(Int64(op.0)), .text(Hex.encode(op.1))])]
    }
    static func serialization(opcode: UInt8, payload: [UInt8]) -> String {
        ConsensusRecord(opcode: UInt8(ascii: "x"), fields: [.integer(Int64(opcode)), .text(Hex.encode(payload))]).serializedString
    }
}
