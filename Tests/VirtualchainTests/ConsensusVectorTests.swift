import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import Virtualchain

/// Every value of ../shared/spec/consensus-vectors.json, produced by the original Python code.
@Suite struct ConsensusVectorTests {
    static let vectorsURL = TestPaths.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/spec/consensus-vectors.json")
    /// Locally the tests skip without `../shared`; in CI they run and fail without their oracle.
    static let available = FileManager.default.fileExists(atPath: vectorsURL.path) || TestPaths.inCI

    struct Vectors {
        var json: [String: Any]
        var serialized: [String] { json["serialized"] as! [String] }
        var firstBlock: Int { json["first_block"] as! Int }
        var chain: [String: [String: Any]] { json["chain"] as! [String: [String: Any]] }
    }

    func load() throws -> Vectors {
        Vectors(json: try JSONSerialization.jsonObject(with: Data(contentsOf: Self.vectorsURL)) as! [String: Any])
    }

    @Test(.enabled(if: available, "needs ../shared/spec/consensus-vectors.json"))
    func serializationOfRecords() throws {
        let v = try load()
        // opfields ['name','value','flag','fee','missing_ok'] = 'foo.id', 12345, True, 1.5, None
        let record = ConsensusRecord(opcode: UInt8(ascii: "a"), fields: ["foo.id", 12345, .boolean(true), .text("1.5"), .none])
        #expect(record.serializedString == v.serialized[0])
        #expect(ConsensusRecord(opcode: UInt8(ascii: "b"), fields: ["hello"]).serializedString == v.serialized[1])
    }

    /// The vectors' three records as this engine builds them (the third is a Python repr the
    /// original serialized as one text field); each must serialize to the vector's bytes.
    func records(_ v: Vectors) -> [ConsensusRecord] {
        let records = [
            ConsensusRecord(opcode: UInt8(ascii: "a"), fields: ["foo.id", 12345, .boolean(true), .text("1.5"), .none]),
            ConsensusRecord(opcode: UInt8(ascii: "b"), fields: ["hello"]),
            ConsensusRecord(opcode: UInt8(ascii: "b"), fields: [.text("[1, 'a', {'k': 2L}]")]),
        ]
        #expect(records.map(\.serializedString) == v.serialized)
        return records
    }

    /// The production ops hash (`ConsensusHash.opsHash`), not a test-local one.
    @Test(.enabled(if: available, "needs ../shared/spec/consensus-vectors.json"))
    func opsHashes() throws {
        let v = try load()
        let records = records(v)
        #expect(ConsensusHash.opsHash([]) == v.json["ops_hash_empty"] as? String)
        #expect(ConsensusHash.opsHash(Array(records.prefix(1))) == v.json["ops_hash_1"] as? String)
        #expect(ConsensusHash.opsHash(records) == v.json["ops_hash_3"] as? String)
        #expect(ConsensusHash.opsHash(records.reversed()) == v.json["ops_hash_3"] as? String)  // order-free
        #expect(ConsensusHash.consensusHash(opsHash: v.json["ops_hash_empty"] as! String, previous: ["17ac43c1d8549c3181b200f1bf97eb7d"])
                == v.json["from_ops_hash_example"] as? String)
    }

    @Test(.enabled(if: available, "needs ../shared/spec/consensus-vectors.json"))
    func twentyBlockChain() throws {
        let v = try load()
        let first = v.firstBlock
        var chain = ConsensusChain(firstBlock: first)
        #expect(chain.nextHeight == first)
        for height in first..<(first + 20) {
            let expected = v.chain[String(height)]!
            let records: [ConsensusRecord] = height == first + 5 ? self.records(v) : (height == first + 9 ? [self.records(v)[0]] : [])
            // The engine's own step: ConsensusChain.append computes ops hash and consensus hash.
            let appended = chain.append(records: records)
            #expect(ConsensusHash.skipListHeights(height: height, firstBlock: first) == expected["prev_blocks"] as! [Int])
            #expect(appended.opsHash.internalHex == expected["ops_hash"] as? String, "ops hash at \(height)")
            #expect(appended.consensusHash.hex == expected["consensus_hash"] as? String, "consensus hash at \(height)")
            #expect(chain.digest(atHeight: height) == appended.consensusHash)
        }
        let recent = chain.digest(atHeight: first + 17)!.withUnsafeBytes { Array($0) }
        #expect(chain.isRecent(recent, before: first + 19, window: 2))
        #expect(!chain.isRecent(recent, before: first + 19, window: 1))
    }
}
