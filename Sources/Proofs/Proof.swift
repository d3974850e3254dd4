import BitcoinWire
import ConsensusHashing
import Foundation

/// A light-client proof (`../shared/spec/proofs.md`, format `virtualchain-proof/1`): one trusted
/// consensus hash proves that a record was accepted at an earlier height, through the hops of
/// the consensus-hash skip list, optionally with the Bitcoin transaction that carried it.
public struct Proof: Codable, Equatable, Sendable {
    public static let format1 = "virtualchain-proof/1"

    public struct Trusted: Codable, Equatable, Sendable {
        public var height: Int
        public var consensusHash: String
        enum CodingKeys: String, CodingKey { case height, consensusHash = "consensus_hash" }
        public init(height: Int, consensusHash: String) { self.height = height; self.consensusHash = consensusHash }
    }

    /// One block's preimage of its consensus hash: its ops hash and its skip list, nearest first.
    public struct Hop: Codable, Equatable, Sendable {
        public var height: Int
        public var opsHash: String
        public var previous: [String]
        enum CodingKeys: String, CodingKey { case height, opsHash = "ops_hash", previous }
        public init(height: Int, opsHash: String, previous: [String]) { self.height = height; self.opsHash = opsHash; self.previous = previous }
    }

    public struct Block: Codable, Equatable, Sendable {
        public var height: Int
        /// Every accepted record of the block, serialized, in commit order.
        public var records: [String]
        public init(height: Int, records: [String]) { self.height = height; self.records = records }
    }

    /// The transaction that carried the record, in its block (all hashes in internal byte order).
    public struct Bitcoin: Codable, Equatable, Sendable {
        public var blockHeader: String
        public var tx: String
        public var txIndex: Int
        public var merkleBranch: [String]
        enum CodingKeys: String, CodingKey { case blockHeader = "block_header", tx, txIndex = "tx_index", merkleBranch = "merkle_branch" }
        public init(blockHeader: String, tx: String, txIndex: Int, merkleBranch: [String]) {
            self.blockHeader = blockHeader; self.tx = tx; self.txIndex = txIndex; self.merkleBranch = merkleBranch
        }
    }

    public var format: String
    public var machine: String
    public var machineVersion: Int
    public var network: String
    public var firstBlock: Int
    public var trusted: Trusted
    public var hops: [Hop]
    public var block: Block
    public var recordIndex: Int
    /// Display order (reversed), or nil for a record made at the end of a block.
    public var txid: String?
    public var bitcoin: Bitcoin?

    enum CodingKeys: String, CodingKey {
        case format, machine, network, trusted, hops, block, txid, bitcoin
        case machineVersion = "machine_version", firstBlock = "first_block", recordIndex = "record_index"
    }

    public init(machine: String, machineVersion: Int, network: String, firstBlock: Int, trusted: Trusted, hops: [Hop],
                block: Block, recordIndex: Int, txid: String?, bitcoin: Bitcoin?) {
        format = Self.format1
        self.machine = machine
        self.machineVersion = machineVersion
        self.network = network
        self.firstBlock = firstBlock
        self.trusted = trusted
        self.hops = hops
        self.block = block
        self.recordIndex = recordIndex
        self.txid = txid
        self.bitcoin = bitcoin
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(machine, forKey: .machine)
        try c.encode(machineVersion, forKey: .machineVersion)
        try c.encode(network, forKey: .network)
        try c.encode(firstBlock, forKey: .firstBlock)
        try c.encode(trusted, forKey: .trusted)
        try c.encode(hops, forKey: .hops)
        try c.encode(block, forKey: .block)
        try c.encode(recordIndex, forKey: .recordIndex)
        try c.encode(txid, forKey: .txid)  // null for an end-of-block record
        try c.encodeIfPresent(bitcoin, forKey: .bitcoin)
    }

    /// The proof as one JSON object (sorted keys).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Largest proof accepted for parsing: a proof across a million blocks is a few kilobytes.
    public static let maxJSONBytes = 4 << 20

    /// Parses a proof; malformed JSON or a missing field is a step-0 failure.
    public static func parse(_ bytes: [UInt8]) throws(ProofError) -> Proof {
        guard bytes.count <= maxJSONBytes else { throw ProofError(step: 0, "proof of \(bytes.count) bytes is larger than any proof (\(maxJSONBytes))") }
        do {
            return try JSONDecoder().decode(Proof.self, from: Data(bytes))
        } catch {
            throw ProofError(step: 0, "not a proof: \(error)")
        }
    }
}

/// Why a proof was refused: the step of the spec's verification that failed.
public struct ProofError: Error, Equatable, CustomStringConvertible, Sendable {
    /// 0: the proof does not parse; 1-5: the verification steps of the spec.
    public var step: Int
    public var message: String
    public init(step: Int, _ message: String) { self.step = step; self.message = message }
    public var description: String { "step \(step): \(message)" }
}

/// What a verified proof proves.
public struct ProvenRecord: Codable, Equatable, Sendable {
    public var height: Int
    public var record: String
    public var txid: String?

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(height, forKey: .height)
        try c.encode(record, forKey: .record)
        try c.encode(txid, forKey: .txid)
    }
}
