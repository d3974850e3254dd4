import Foundation
import Testing
import TestSupport
@testable import Virtualchain

/// Every value of ../shared/spec/consensus-vectors.json, produced by the original Python code.
@Suite struct ConsensusVectorTests {
    static let vectorsURL = TestPaths.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/spec/consensus-vectors.json")
    static let available = FileManager.default.fileExists(atPath: vectorsURL.path)

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

    @Test(.enabled(if: available, "needs ../shared/spec/consensus-vectors.json"))
    func opsHashes() throws {
        let v = try load()
        let records = v.serialized.map { text in
            let bytes = Array(text.utf8)
            return RawRecord(bytes: bytes)
        }
        #expect(ConsensusHash.opsHash([]) == v.json["ops_hash_empty"] as? String)
        #expect(RawRecord.opsHash(Array(records.prefix(1))) == v.json["ops_hash_1"] as? String)
        #expect(RawRecord.opsHash(records) == v.json["ops_hash_3"] as? String)
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
            #expect(ConsensusHash.skipListHeights(height: height, firstBlock: first) == expected["prev_blocks"] as! [Int])
            let serialized: [String] = height == first + 5 ? v.serialized : (height == first + 9 ? [v.serialized[0]] : [])
            let opsHash = RawRecord.opsHash(serialized.map { RawRecord(bytes: Array($0.utf8)) })
            let previous = ConsensusHash.skipListHeights(height: height, firstBlock: first).map { chain.hash(atHeight: $0)! }
            let hash = ConsensusHash.consensusHash(opsHash: opsHash, previous: previous)
            #expect(opsHash == expected["ops_hash"] as? String, "ops hash at \(height)")
            #expect(hash == expected["consensus_hash"] as? String, "consensus hash at \(height)")
            if serialized.isEmpty {
                let appended = chain.append(records: [])
                #expect(appended.consensusHash == hash)
            } else {
                chain = ConsensusChain(firstBlock: first, hashes: chain.hashes + [hash])
            }
        }
        #expect(chain.hash(atHeight: first) == "2a9148d8b13939723d2aca16c75c6d68")
        let recent = [UInt8](hex: chain.hash(atHeight: first + 17)!)!
        #expect(chain.isRecent(recent, before: first + 19, window: 2))
        #expect(!chain.isRecent(recent, before: first + 19, window: 1))
    }
}

/// A record given by its serialized bytes (the vectors include Python values we never produce).
struct RawRecord {
    var bytes: [UInt8]
    static func opsHash(_ records: [RawRecord]) -> String {
        if records.isEmpty { return ConsensusHash.opsHash([]) }
        return ConsensusHash.merkleRoot(hex: records.map { ConsensusHash.dshaHex($0.bytes) }.sorted())
    }
}
