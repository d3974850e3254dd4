import BitcoinWire
import Foundation

/// Checks that a state says what its own content implies, and that two states are the same:
/// what `verify` runs. Neither trusts a stored hash: every hash is computed again.
///
/// - ``recomputeHashes(of:)``: every block's ops hash from its records in `vc_records`, and every
///   consensus hash from those ops hashes and the skip list, from the first block up, compared
///   with the stored `vc_blocks` row. An edited record or stored hash is found at its height. It
///   cannot see a machine table edited after the import (the hashes cover records only): that
///   takes a replay and ``firstDifference(between:and:)``.
/// - ``firstDifference(between:and:)``: every table of two state databases compared row by row
///   (as the original's `state_engine_verify` compares a replayed state with the one under test).
///
/// Both stream their rows (a statement stepped at a time; SQLite's own temporary b-trees for the
/// set difference), so memory stays bounded whatever the state's size: the recomputed consensus
/// hashes, 16 bytes a block, are the only thing kept per block.
public enum StateAudit {
    /// Where a state is not what it should be.
    public struct Difference: Sendable, CustomStringConvertible, Equatable {
        /// The first height that differs, where the difference has one.
        public var height: Int?
        /// The table that differs (`vc_blocks`, `vc_records`, a machine table), where known.
        public var table: String?
        public var problem: String
        public var description: String { problem }

        public init(height: Int?, table: String?, problem: String) {
            self.height = height
            self.table = table
            self.problem = problem
        }
    }

    /// What ``recomputeHashes(of:)`` found.
    public enum HashCheck: Sendable {
        /// Every stored hash equals the recomputed one; `consensus` holds the recomputed hashes
        /// (to compare with a trusted one).
        case consistent(blocks: Int, consensus: ConsensusChain)
        case differs(Difference)
    }

    /// Recomputes every ops hash and consensus hash of `store` from its records; the first height
    /// whose stored row differs (or whose records or rows are missing or out of place).
    public static func recomputeHashes(of store: StateStore) throws -> HashCheck {
        guard let meta = try store.meta() else {
            return .differs(Difference(height: nil, table: "vc_meta", problem: "the state does not say which machine, network and first block it holds (vc_meta)"))
        }
        let database = store.database
        var chain = ConsensusChain(firstBlock: meta.firstBlock, initialDigests: try store.initialHashes())
        let blocks = try database.prepare("SELECT height, ops_hash, consensus_hash FROM vc_blocks ORDER BY height")
        let records = try database.prepare("SELECT height, serialized FROM vc_records ORDER BY height, position")
        var recordPending = try records.step()
        var count = 0
        func differs(_ height: Int?, _ table: String, _ problem: String) -> HashCheck {
            .differs(Difference(height: height, table: table, problem: problem))
        }
        while try blocks.step() {
            let height = blocks.integer(0)
            guard height == chain.nextHeight else {
                return differs(min(height, chain.nextHeight), "vc_blocks", "the block rows skip from height \(chain.nextHeight - 1) to \(height) (first block \(meta.firstBlock))")
            }
            // This block's records: those of lower heights have no block row.
            var serialized: [[UInt8]] = []
            while recordPending {
                let recordHeight = records.integer(0)
                if recordHeight < height { return differs(recordHeight, "vc_records", "records at height \(recordHeight), which has no block row") }
                if recordHeight > height { break }
                serialized.append(records.blobBytes(1).map { Array($0) } ?? Array((records.column(1).string ?? "").utf8))
                recordPending = try records.step()
            }
            let opsHash = serialized.isEmpty ? ConsensusHash.emptyOpsHashBytes : ConsensusHash.opsHashBytes(serialized: serialized)
            guard let storedOps = blocks.blobBytes(1), storedOps.count == 32, storedOps.elementsEqual(opsHash.bytes) else {
                return differs(height, "vc_records", "at height \(height) the stored ops hash \(hex(blocks.column(1))) is not the hash of the block's \(serialized.count) records (\(Hex.encode(opsHash.bytes))): a record or the ops hash was changed")
            }
            let digest = chain.append(opsHash: opsHash)
            guard let storedConsensus = blocks.blobBytes(2), storedConsensus.count == ConsensusHash.consensusHashSize,
                  digest == ConsensusDigest(loading: storedConsensus.baseAddress!) else {
                return differs(height, "vc_blocks", "at height \(height) the stored consensus hash \(hex(blocks.column(2))) differs from the one its ops hash and the hashes before it give (\(digest.hex))")
            }
            count += 1
        }
        if recordPending {
            let height = records.integer(0)
            return differs(height, "vc_records", "records at height \(height), which has no block row")
        }
        return .consistent(blocks: count, consensus: chain)
    }

    private static func hex(_ value: SQLiteValue) -> String {
        switch value {
        case let .blob(bytes): Hex.encode(bytes)
        case let .text(text): "'\(text)'"
        case .null: "NULL"
        case let .integer(n): String(n)
        case let .real(d): String(d)
        }
    }

    /// The first difference between the state database at `path` and the one at `reference`
    /// (a replay of the same blocks): tables present in one and not the other, a table whose
    /// definition differs, then, table by table in name order, a row found in one and not in the
    /// other. nil when every table holds the same rows.
    public static func firstDifference(between path: String, and reference: String) throws -> Difference? {
        let database = try SQLiteDatabase(path: path, readOnly: true)
        defer { database.close() }
        try database.run("ATTACH DATABASE ? AS reference", [.text(reference)])
        defer { _ = try? database.execute("DETACH DATABASE reference") }
        func tables(_ schema: String) throws -> [String: String] {
            var found: [String: String] = [:]
            for row in try database.run("SELECT name, sql FROM \(schema).sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") {
                found[row[0].string ?? ""] = row[1].string ?? ""
            }
            return found
        }
        let ours = try tables("main"), theirs = try tables("reference")
        for name in Set(ours.keys).union(theirs.keys).sorted() {
            guard let definition = ours[name] else {
                return Difference(height: nil, table: name, problem: "table \(name) is missing from the state (the replay has it)")
            }
            guard let replayed = theirs[name] else {
                return Difference(height: nil, table: name, problem: "table \(name) is in the state but not in the replay")
            }
            guard definition == replayed else {
                return Difference(height: nil, table: name, problem: "table \(name) is defined differently in the state and in the replay")
            }
            let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            let columns = try database.run("SELECT name FROM pragma_table_info(?)", [.text(name)]).compactMap { $0[0].string }
            for (first, second, side) in [("main", "reference", "in the state but not in the replay"), ("reference", "main", "in the replay but not in the state")] {
                let statement = try database.prepare("SELECT * FROM \(first).\(quoted) EXCEPT SELECT * FROM \(second).\(quoted) LIMIT 1")
                guard try statement.step() else { continue }
                let row = statement.row()
                let shown = zip(columns, row).map { "\($0)=\(hex($1))" }.joined(separator: ", ")
                let height = columns.firstIndex(of: "height").flatMap { row[$0].int }
                return Difference(height: height, table: name, problem: "table \(name): row (\(shown)) is \(side)")
            }
        }
        return nil
    }
}
