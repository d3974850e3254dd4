import Foundation

/// Every JSON the commands print goes through `Encodable` types and one `JSONEncoder` (keys
/// sorted, one object per line), never strings built by hand. The shapes are documented in the
/// README ("Output for scripts").
enum JSONOutput {
    /// Sorted keys make the output byte-stable, so scripts can diff it. One encoder for every
    /// line (`blocks` and `ops` print one per block).
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func line<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// `blocks --json`: one per block.
struct BlockJSON: Encodable {
    var height: Int?
    var hash: String
    var prev: String
    var txs: Int
    var size: Int
    var file: String
    var offset: Int
    var stale: Bool
    var txids: [String]?
    var wtxids: [String]?

    enum CodingKeys: String, CodingKey { case height, hash, prev, txs, size, file, offset, stale, txids, wtxids }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(height, forKey: .height)  // null for a block that does not connect
        try c.encode(hash, forKey: .hash)
        try c.encode(prev, forKey: .prev)
        try c.encode(txs, forKey: .txs)
        try c.encode(size, forKey: .size)
        try c.encode(file, forKey: .file)
        try c.encode(offset, forKey: .offset)
        try c.encode(stale, forKey: .stale)
        try c.encodeIfPresent(txids, forKey: .txids)
        try c.encodeIfPresent(wtxids, forKey: .wtxids)
    }
}

/// `ops`: one per operation.
struct OperationJSON: Encodable {
    var height: Int?
    var block: String
    var txid: String
    var vtxindex: Int
    var opcode: String
    var payload: String

    enum CodingKeys: String, CodingKey { case height, block, txid, vtxindex, opcode, payload }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(height, forKey: .height)
        try c.encode(block, forKey: .block)
        try c.encode(txid, forKey: .txid)
        try c.encode(vtxindex, forKey: .vtxindex)
        try c.encode(opcode, forKey: .opcode)
        try c.encode(payload, forKey: .payload)
    }
}

/// `export`: one per block of the state, after one per initial consensus hash of the machine
/// (heights below its first block: `block` and `ops_hash` null, no records).
struct ExportJSON: Encodable {
    var height: Int
    var block: String?
    var opsHash: String?
    var consensusHash: String
    var records: [String]
    /// Parallel to `records`: the transaction that made each, null for an end-of-block record.
    var txids: [String?]

    enum CodingKeys: String, CodingKey {
        case height, block, records, txids
        case opsHash = "ops_hash", consensusHash = "consensus_hash"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(height, forKey: .height)
        try c.encode(block, forKey: .block)  // null, not left out, for an initial hash
        try c.encode(opsHash, forKey: .opsHash)
        try c.encode(consensusHash, forKey: .consensusHash)
        try c.encode(records, forKey: .records)
        try c.encode(txids, forKey: .txids)
    }
}

/// `status --json`.
struct StatusJSON: Encodable {
    var machine: String?
    var version: Int?
    var network: String?
    var firstBlock: Int?
    var height: Int?
    var block: String?
    var consensusHash: String?
    var counts: [String: Int]

    enum CodingKeys: String, CodingKey {
        case machine, version, network, height, block, counts
        case firstBlock = "first_block", consensusHash = "consensus_hash"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(machine, forKey: .machine)
        try c.encode(version, forKey: .version)
        try c.encode(network, forKey: .network)
        try c.encode(firstBlock, forKey: .firstBlock)
        try c.encode(height, forKey: .height)  // null before the first block
        try c.encode(block, forKey: .block)
        try c.encode(consensusHash, forKey: .consensusHash)
        try c.encode(counts, forKey: .counts)
    }
}

/// `checkpoints list|verify --json`: one per checkpoint.
struct CheckpointJSON: Encodable {
    var path: String
    var height: Int?
    var block: String?
    var consensusHash: String?
    var bytes: Int
    var ok: Bool
    var problem: String?

    enum CodingKeys: String, CodingKey {
        case path, height, block, bytes, ok, problem
        case consensusHash = "consensus_hash"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(height, forKey: .height)
        try c.encode(block, forKey: .block)
        try c.encode(consensusHash, forKey: .consensusHash)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(ok, forKey: .ok)
        try c.encodeIfPresent(problem, forKey: .problem)
    }
}

/// `import --json` / `rebuild --json`: one summary per run (per poll with `--follow`).
struct ImportJSON: Encodable {
    struct Checkpoints: Encodable {
        var written: Int
        var stallSeconds: Double
        var writeSeconds: Double
        var payloadBytes: Int
        var fileBytes: Int
        enum CodingKeys: String, CodingKey {
            case written
            case stallSeconds = "stall_seconds", writeSeconds = "write_seconds", payloadBytes = "payload_bytes", fileBytes = "file_bytes"
        }
    }

    struct Reorganisation: Encodable {
        var depth: Int
        var forkHeight: Int
        var oldTip: Int
        enum CodingKeys: String, CodingKey { case depth, forkHeight = "fork_height", oldTip = "old_tip" }
    }

    var machine: String
    var firstHeight: Int?
    var lastHeight: Int?
    var blocks: Int
    var bytes: Int
    var accepted: Int
    var rejected: Int
    var dropped: Int
    var unresolved: Int
    var seconds: Double
    var interrupted: Bool
    var usedFallback: Bool
    var tip: String?
    var consensusHash: String?
    var restoredFrom: Int?
    var reorganisation: Reorganisation?
    var checkpoints: Checkpoints
    var notes: [String]

    enum CodingKeys: String, CodingKey {
        case machine, blocks, bytes, accepted, rejected, dropped, unresolved, seconds, interrupted, tip, reorganisation, checkpoints, notes
        case firstHeight = "first_height", lastHeight = "last_height", usedFallback = "used_fallback"
        case consensusHash = "consensus_hash", restoredFrom = "restored_from"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(machine, forKey: .machine)
        try c.encode(firstHeight, forKey: .firstHeight)
        try c.encode(lastHeight, forKey: .lastHeight)
        try c.encode(blocks, forKey: .blocks)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(accepted, forKey: .accepted)
        try c.encode(rejected, forKey: .rejected)
        try c.encode(dropped, forKey: .dropped)
        try c.encode(unresolved, forKey: .unresolved)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(interrupted, forKey: .interrupted)
        try c.encode(usedFallback, forKey: .usedFallback)
        try c.encode(tip, forKey: .tip)
        try c.encode(consensusHash, forKey: .consensusHash)
        try c.encode(restoredFrom, forKey: .restoredFrom)
        try c.encode(reorganisation, forKey: .reorganisation)
        try c.encode(checkpoints, forKey: .checkpoints)
        try c.encode(notes, forKey: .notes)
    }
}

/// `bench --json`.
struct BenchJSON: Encodable {
    struct Phase: Encodable {
        var seconds: Double
        var mbps: Double
        var ratioToSHA256: Double
        var blocksPerSecond: Double
        var transactionsPerSecond: Double
        var threads: Int
        /// Only for `import`: its MB/s over parse_all_cores' in the same run.
        var ratioToParseAllCores: Double?
        /// For `import_no_verify`: its MB/s over filter_all_cores's.
        var ratioToFilterAllCores: Double? = nil
        /// For the import phases: the machine replayed through.
        var machine: String? = nil
        enum CodingKeys: String, CodingKey {
            case seconds, mbps, threads, machine
            case ratioToSHA256 = "ratio_to_sha256", blocksPerSecond = "blocks_per_s", transactionsPerSecond = "tx_per_s"
            case ratioToParseAllCores = "ratio_to_parse_all_cores", ratioToFilterAllCores = "ratio_to_filter_all_cores"
        }
    }

    var bytes: Int
    var blocks: Int
    var txs: Int
    var threads: Int
    var sha256Mbps: Double
    var anonRSSBytes: Int
    var peakRSSBytes: Int
    /// Each phase under its own name at the top level (`headers`, `parse`, `parse_all_cores`, ...).
    var phases: [String: Phase]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(bytes, forKey: Key("bytes"))
        try c.encode(blocks, forKey: Key("blocks"))
        try c.encode(txs, forKey: Key("txs"))
        try c.encode(threads, forKey: Key("threads"))
        try c.encode(sha256Mbps, forKey: Key("sha256_mbps"))
        try c.encode(anonRSSBytes, forKey: Key("anon_rss_bytes"))
        try c.encode(peakRSSBytes, forKey: Key("peak_rss_bytes"))
        for (name, phase) in phases { try c.encode(phase, forKey: Key(name)) }
    }
}
