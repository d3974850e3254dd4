import BitcoinWire
import Foundation

/// The engine's own tables beside the machine's, in one SQLite file (`DIR/state.sqlite`).
public final class StateStore {
    public static let fileName = "state.sqlite"
    public let directory: String
    public let database: SQLiteDatabase

    public struct Meta: Equatable, Sendable {
        public var machine: String
        public var version: Int
        public var network: String
        public var firstBlock: Int

        public init(machine: String, version: Int, network: String, firstBlock: Int) {
            self.machine = machine
            self.version = version
            self.network = network
            self.firstBlock = firstBlock
        }
    }

    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        database = try SQLiteDatabase(path: directory + "/" + Self.fileName)
        try database.execute("""
            CREATE TABLE IF NOT EXISTS vc_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS vc_blocks (
                height INTEGER PRIMARY KEY, block_hash TEXT NOT NULL, ops_hash TEXT NOT NULL,
                consensus_hash TEXT NOT NULL, accepted INTEGER NOT NULL, rejected INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS vc_records (
                height INTEGER NOT NULL, position INTEGER NOT NULL, vtxindex INTEGER, txid TEXT,
                opcode TEXT NOT NULL, serialized BLOB NOT NULL, PRIMARY KEY (height, position));
            CREATE TABLE IF NOT EXISTS vc_counts (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS vc_migrations (machine TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (machine, step));
            """)
    }

    public func meta() throws -> Meta? {
        let rows = try database.run("SELECT key, value FROM vc_meta")
        var values: [String: String] = [:]
        for row in rows { values[row[0].string ?? ""] = row[1].string }
        guard let machine = values["machine"], let version = values["version"].flatMap(Int.init),
              let network = values["network"], let first = values["first_block"].flatMap(Int.init) else { return nil }
        return Meta(machine: machine, version: version, network: network, firstBlock: first)
    }

    public func setMeta(_ meta: Meta) throws {
        for (key, value) in [("machine", meta.machine), ("version", String(meta.version)), ("network", meta.network), ("first_block", String(meta.firstBlock))] {
            try database.run("INSERT OR REPLACE INTO vc_meta (key, value) VALUES (?, ?)", [.text(key), .text(value)])
        }
    }

    /// Applies the machine's migrations not yet applied.
    public func migrate(machine: String, steps: [String]) throws {
        let done = Set(try database.run("SELECT step FROM vc_migrations WHERE machine = ?", [.text(machine)]).compactMap { $0[0].int })
        for (i, sql) in steps.enumerated() where !done.contains(i) {
            try database.transaction {
                try database.execute(sql)
                try database.run("INSERT INTO vc_migrations (machine, step) VALUES (?, ?)", [.text(machine), SQLiteValue(i)])
            }
        }
    }

    /// Consensus hashes from the first block on, in height order.
    public func consensusHashes() throws -> [(height: Int, blockHash: String, consensusHash: String)] {
        try database.run("SELECT height, block_hash, consensus_hash FROM vc_blocks ORDER BY height").map {
            ($0[0].int!, $0[1].string!, $0[2].string!)
        }
    }

    public func tip() throws -> (height: Int, blockHash: String, consensusHash: String)? {
        try database.run("SELECT height, block_hash, consensus_hash FROM vc_blocks ORDER BY height DESC LIMIT 1").first.map {
            ($0[0].int!, $0[1].string!, $0[2].string!)
        }
    }

    /// What a state database file says of itself (machine and network, tip), read without
    /// changing it: to compare a checkpoint's image with its header before restoring it.
    public static func describe(databaseAt path: String) throws -> (meta: Meta?, tip: (height: Int, blockHash: String, consensusHash: String)?) {
        let database = try SQLiteDatabase(path: path, readOnly: true)
        defer { database.close() }
        var values: [String: String] = [:]
        for row in try database.run("SELECT key, value FROM vc_meta") { values[row[0].string ?? ""] = row[1].string }
        var meta: Meta?
        if let machine = values["machine"], let version = values["version"].flatMap(Int.init),
           let network = values["network"], let first = values["first_block"].flatMap(Int.init) {
            meta = Meta(machine: machine, version: version, network: network, firstBlock: first)
        }
        let tip = try database.run("SELECT height, block_hash, consensus_hash FROM vc_blocks ORDER BY height DESC LIMIT 1").first.flatMap { row in
            row[0].int.flatMap { h in row[1].string.flatMap { b in row[2].string.map { c in (h, b, c) } } }
        }
        return (meta, tip)
    }

    public func counts() throws -> [(kind: String, count: Int)] {
        try database.run("SELECT kind, count FROM vc_counts ORDER BY kind").map { ($0[0].string!, $0[1].int!) }
    }

    func addCounts(_ counts: [String: Int]) throws {
        for (kind, n) in counts.sorted(by: { $0.key < $1.key }) where n != 0 {
            try database.run("INSERT INTO vc_counts (kind, count) VALUES (?, ?) ON CONFLICT(kind) DO UPDATE SET count = count + excluded.count",
                             [.text(kind), SQLiteValue(n)])
        }
    }
}
