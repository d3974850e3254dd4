import BitcoinWire
import ConsensusHashing
import Foundation

/// A light-client proof (docs/proofs.md, format `virtualchain-proof/1`): one trusted consensus
/// hash proves that a record was accepted in a block of the history it commits to, through the
/// hops of the consensus-hash skip list, optionally with the Bitcoin transaction that carried it
/// and the block's coinbase (which binds the block's height, see docs/proofs.md).
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

    /// The transaction that carried the record, in its block, and the block's coinbase (all
    /// hashes in internal byte order; transactions without witness data).
    public struct Bitcoin: Codable, Equatable, Sendable {
        public var blockHeader: String
        public var tx: String
        public var txIndex: Int
        public var merkleBranch: [String]
        /// The block's coinbase and its merkle branch (at index 0): its BIP34 height binds the
        /// block's height. Optional: without it the height is not bound by the Bitcoin part.
        public var coinbase: String?
        public var coinbaseBranch: [String]?
        enum CodingKeys: String, CodingKey {
            case blockHeader = "block_header", tx, txIndex = "tx_index", merkleBranch = "merkle_branch", coinbase, coinbaseBranch = "coinbase_branch"
        }
        public init(blockHeader: String, tx: String, txIndex: Int, merkleBranch: [String], coinbase: String? = nil, coinbaseBranch: [String]? = nil) {
            self.blockHeader = blockHeader; self.tx = tx; self.txIndex = txIndex; self.merkleBranch = merkleBranch
            self.coinbase = coinbase; self.coinbaseBranch = coinbaseBranch
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
    /// Display order (reversed); nil for a record made at the end of a block, and whenever the
    /// proof has no Bitcoin part (nothing could prove it).
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

/// Why a proof was refused: the step of the verification (docs/proofs.md) that failed.
public struct ProofError: Error, Equatable, CustomStringConvertible, Sendable {
    /// 0: the proof does not parse; 1-6: the verification steps of docs/proofs.md.
    public var step: Int
    public var message: String
    public init(step: Int, _ message: String) { self.step = step; self.message = message }
    public var description: String { "step \(step): \(message)" }
}

/// Where a machine's consensus records carry the block's height and the transaction's index in
/// it (0-based field positions): what lets a proof without a Bitcoin part bind its height.
public struct RecordPositionFields: Equatable, Sendable {
    public var height: Int
    public var vtxindex: Int?
    public init(height: Int, vtxindex: Int?) {
        self.height = height
        self.vtxindex = vtxindex
    }
}

/// What a verified proof established, and what it only claims.
///
/// Only `record` is always proven: it is one of the accepted records of a block of the history
/// the trusted consensus hash commits to. The height is proven only where something bound it
/// (`heightBoundBy`); the txid only with the Bitcoin part; the machine, network and first block
/// only where the verifier was told which to expect (`checked`).
public struct ProvenRecord: Equatable, Sendable {
    public var record: String
    /// The block's height, as the proof gives it.
    public var height: Int
    /// What bound the height: `coinbase` (BIP34) and/or `record` (the machine's height field).
    /// Empty: the height is unproven.
    public var heightBoundBy: [String]
    public var heightProven: Bool { !heightBoundBy.isEmpty }
    /// The transaction that carried the record: set only when the Bitcoin part proved it.
    public var txid: String?
    public var machine: String
    public var network: String
    public var firstBlock: Int
    /// The proof's fields compared with what the verifier was told (`machine`, `network`,
    /// `first_block`, `magic`).
    public var checked: [String]

    /// `{"proven": {...}, "unproven": {...}}`: each fact under the one it belongs to.
    public var json: [String: [String: ProvenValue]] {
        var proven: [String: ProvenValue] = ["record": .text(record)]
        var unproven: [String: ProvenValue] = [:]
        if heightProven {
            proven["height"] = .integer(height)
            proven["height_bound_by"] = .list(heightBoundBy)
        } else {
            unproven["height"] = .integer(height)
        }
        if let txid { proven["txid"] = .text(txid) }
        for (key, value) in [("machine", ProvenValue.text(machine)), ("network", .text(network)), ("first_block", .integer(firstBlock))] {
            if checked.contains(key) { proven[key] = value } else { unproven[key] = value }
        }
        return ["proven": proven, "unproven": unproven]
    }
}

/// A value in ``ProvenRecord/json``.
public enum ProvenValue: Equatable, Sendable, Encodable {
    case text(String), integer(Int), list([String])
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .text(t): try c.encode(t)
        case let .integer(n): try c.encode(n)
        case let .list(l): try c.encode(l)
        }
    }
}
