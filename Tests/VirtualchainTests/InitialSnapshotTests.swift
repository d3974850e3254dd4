import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Virtualchain

/// Cites consensus hashes: an operation carries 16 bytes, accepted only if they are one of this
/// node's hashes of the 3 blocks before (initial ones included), as Blockstack's operations do.
struct Citing: StateMachine {
    static let identity = "citing"
    static let version = 1
    let magic = Array("id".utf8)
    let firstBlock = 5
    let opcodes: Set<UInt8> = [UInt8(ascii: "C")]
    let migrations: [String] = []
    var initialConsensusHashes: [Int: ConsensusDigest]
    static let window = 3

    func parse(_ candidate: Candidate) -> [UInt8]? { candidate.payload.count == 16 ? candidate.payload : nil }
    func check(_ cited: [UInt8], in block: BlockContext) throws {
        guard block.isRecentConsensusHash(cited, window: Self.window) else { throw Rejection("stale") }
    }
    func commit(_ cited: [UInt8], in block: BlockContext) throws -> [ConsensusRecord] {
        [ConsensusRecord(opcode: UInt8(ascii: "C"), fields: [.text(Hex.encode(cited))])]
    }
}

@Suite struct InitialSnapshotTests {
    /// Blockstack's four genesis snapshots (one changed, so that which is cited shows).
    static let initial: [Int: ConsensusDigest] = [
        1: ConsensusDigest(hex: "17ac43c1d8549c3181b200f1bf97eb7d")!, 2: ConsensusDigest(hex: "17ac43c1d8549c3181b200f1bf97eb7d")!,
        3: ConsensusDigest(hex: "00112233445566778899aabbccddeeff")!, 4: ConsensusDigest(hex: "17ac43c1d8549c3181b200f1bf97eb7d")!,
    ]

    func block(citing hashes: [ConsensusDigest]) -> (block: [UInt8], undo: [UInt8]) {
        let transactions = hashes.enumerated().map { i, hash in
            Transaction(version: 2, inputs: [TxIn(previousOutput: OutPoint(txid: Txid(Hash256(bytes: [UInt8](repeating: UInt8(i + 1), count: 32))), index: 0),
                                                  scriptSig: [0x51])],
                        outputs: [TxOut(value: 0, scriptPubKey: Script.nullData(Array("id".utf8) + [UInt8(ascii: "C")] + hash.withUnsafeBytes { Array($0) }))])
        }
        return (regtestBlock(transactions), undoData(forTransactions: transactions.count))
    }

    /// Blocks 5-9, citing initial and block hashes in and out of the window.
    func replay(into directory: String, initial: [Int: ConsensusDigest]) throws -> Engine<Citing> {
        let engine = try Engine(machine: Citing(initialConsensusHashes: initial), stateDirectory: directory, network: .regtest)
        let three = Self.initial[3]!, four = Self.initial[4]!
        for height in 5...9 {
            let cited: [ConsensusDigest] = switch height {
            case 5: [three, four, ConsensusDigest(hex: String(repeating: "f", count: 32))!]  // the last is nobody's
            case 6: [three, engine.consensus.digest(atHeight: 5)!]                // both in (3-5)
            case 7: [three, engine.consensus.digest(atHeight: 6)!]                // 3 no longer (4-6)
            default: [four, engine.consensus.digest(atHeight: height - 1)!]
            }
            let (bytes, undo) = block(citing: cited)
            try engine.process(block: bytes, height: height, undo: undo)
        }
        return engine
    }

    @Test(.enabled(if: pythonHas(["bitcoin"]) || TestPaths.inCI, "needs the test environment (scripts/setup-test-tools)"))
    func initialSnapshotsAreKeptAsTheOriginalKeepsThem() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = try replay(into: root.appendingPathComponent("with").path, initial: Self.initial)
        // The original's bookkeeping, transcribed in Python, from the records this engine accepted.
        var blocks: [[String]] = []
        for height in 5...9 { blocks.append(try engine.store.records(atHeight: height).map(\.serialized)) }
        let input = root.appendingPathComponent("input.json")
        let spec: [String: Any] = ["first_block": 5, "window": Citing.window, "blocks": blocks,
                                   "initial": Dictionary(uniqueKeysWithValues: Self.initial.map { (String($0.key), $0.value.hex) })]
        try JSONSerialization.data(withJSONObject: spec).write(to: input)
        let result = try runPython("original_snapshots.py", [input.path])
        #expect(result.status == 0, "\(result.stderr)")
        let output = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let consensus = output["consensus"] as! [String: String]
        for height in 1...9 {
            #expect(engine.consensus.digest(atHeight: height)?.hex == consensus[String(height)], "consensus hash at \(height)")
        }
        // What the original accepts is what the engine accepted: each cited hash that its
        // get_valid_consensus_hashes lists, and no other.
        let valid = output["valid"] as! [String: [String]]
        for height in 5...9 {
            let accepted = try engine.store.records(atHeight: height).map { String($0.serialized.dropFirst(2).split(separator: ":")[1]) }
            #expect(accepted.allSatisfy { valid[String(height)]!.contains($0) }, "height \(height)")
        }
        #expect(try engine.store.records(atHeight: 5).count == 2)  // the initial hashes of 3 and 4 accepted
        #expect(try engine.store.records(atHeight: 7).count == 1)  // 3 left the window

        // As in the original, they do not enter the skip list: without them the first blocks'
        // hashes are the same wherever no operation cited them.
        let without = try Engine(machine: Citing(initialConsensusHashes: [:]), stateDirectory: root.appendingPathComponent("without").path, network: .regtest)
        try without.process(block: block(citing: []).block, height: 5, undo: block(citing: []).undo)
        let emptyFirst = try Engine(machine: Citing(initialConsensusHashes: Self.initial), stateDirectory: root.appendingPathComponent("empty").path, network: .regtest)
        try emptyFirst.process(block: block(citing: []).block, height: 5, undo: block(citing: []).undo)
        #expect(without.consensus.digest(atHeight: 5) == emptyFirst.consensus.digest(atHeight: 5))
        #expect(without.consensus.digest(atHeight: 5)?.hex == "2a9148d8b13939723d2aca16c75c6d68")
    }

    @Test func initialSnapshotsAreStoredExportedAndCarriedByAnImage() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state").path
        let engine = try replay(into: state, initial: Self.initial)
        #expect(try engine.store.initialHashes() == Self.initial)
        // A checkpoint is the database's image: it carries them.
        let image = root.appendingPathComponent("image")
        try FileManager.default.createDirectory(at: image, withIntermediateDirectories: true)
        try Data(try engine.store.snapshotImage()).write(to: image.appendingPathComponent(StateStore.fileName))
        #expect(try StateStore.openForReading(directory: image.path).initialHashes() == Self.initial)
        engine.close()
        // Reopened by a machine with other initial hashes: refused, not mixed.
        #expect(throws: EngineError.self) {
            _ = try Engine(machine: Citing(initialConsensusHashes: [:]), stateDirectory: state, network: .regtest)
        }
        #expect(throws: EngineError.self) {
            _ = try Engine(machine: Citing(initialConsensusHashes: [7: Self.initial[1]!]), stateDirectory: root.appendingPathComponent("above").path, network: .regtest)
        }
        // export lists them first, with no block and no ops hash; verify recomputes around them.
        let export = try runCLI(["export", "--state", state])
        #expect(export.status == 0, "\(export.stderr)")
        let lines = export.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.prefix(4).map { $0["height"] as! Int } == [1, 2, 3, 4])
        #expect(lines[2]["consensus_hash"] as? String == "00112233445566778899aabbccddeeff")
        #expect(lines[2]["block"] is NSNull && lines[2]["ops_hash"] is NSNull)
        #expect(lines[4]["height"] as? Int == 5 && lines[4]["block"] is String)
        let verified = try runCLI(["verify", "--state", state, "--height", "3", "--consensus-hash", "00112233445566778899aabbccddeeff"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }
}
