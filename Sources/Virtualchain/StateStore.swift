import BitcoinWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The engine's own tables beside the machine's, in one SQLite file (`DIR/state.sqlite`).
public final class StateStore {
    public static let fileName = "state.sqlite"
    /// The engine's tables are named `vc_*`; a machine's tables must not be.
    public static let engineTablePrefix = "vc_"
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

        /// Why a state (or a checkpoint's image) described by `self` cannot be used by `machine`
        /// (its identity, the version of its rules, network and first block), or nil where it can:
        /// the same machine, network and first block, made by this version or an older one (whose
        /// state the newer migrations upgrade). The one statement of that rule.
        public func refusal(by machine: Meta) -> String? {
            if self.machine != machine.machine || version > machine.version {
                return "made by \(self.machine) v\(version), not \(machine.machine) v\(machine.version) or older"
            }
            if network != machine.network { return "made on \(network), not \(machine.network)" }
            if firstBlock != machine.firstBlock { return "starts at block \(firstBlock), not \(machine.firstBlock)" }
            return nil
        }
    }

    /// Opens the state in `directory` for writing, creating the directory, the database and the
    /// engine's tables where they are missing: for the engine (which holds the state's lock).
    public convenience init(directory: String) throws {
        try self.init(directory: directory, readOnly: false)
    }

    /// Opens an existing state only to read it (`status`, `export`, `verify`, `prove`): nothing is
    /// created and the database is opened with `SQLITE_OPEN_READONLY`.
    public static func openForReading(directory: String) throws -> StateStore {
        try StateStore(directory: directory, readOnly: true)
    }

    /// The file a writer of the state holds locked (`flock`) while it writes (module Importer).
    public static let lockFileName = "lock"

    /// SQLite's log and shared-memory files a reading connection created (a read-only connection
    /// to a database in WAL mode makes them, and cannot remove them): removed when it closes,
    /// where no writer has started meanwhile, so that reading leaves the state as it was.
    private var createdSideFiles: [String] = []

    private init(directory: String, readOnly: Bool) throws {
        self.directory = directory
        if readOnly {
            let path = directory + "/" + Self.fileName
            let sideFiles = StateDatabaseFile(path: path).sideFilePaths
            let absent = sideFiles.filter { !FileManager.default.fileExists(atPath: $0) }
            database = try SQLiteDatabase(path: path, readOnly: true)
            createdSideFiles = absent
            return
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        database = try SQLiteDatabase(path: directory + "/" + Self.fileName)
        try database.execute("""
            CREATE TABLE IF NOT EXISTS vc_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS vc_blocks (\(Self.blockColumns));
            CREATE TABLE IF NOT EXISTS vc_records (
                height INTEGER NOT NULL, position INTEGER NOT NULL, vtxindex INTEGER, txid TEXT,
                opcode TEXT NOT NULL, serialized BLOB NOT NULL, PRIMARY KEY (height, position));
            CREATE TABLE IF NOT EXISTS vc_counts (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS vc_migrations (machine TEXT NOT NULL, step INTEGER NOT NULL, sql_sha256 BLOB, PRIMARY KEY (machine, step));
            CREATE TABLE IF NOT EXISTS vc_initial_hashes (height INTEGER PRIMARY KEY, consensus_hash BLOB NOT NULL);
            """)
    }

    /// `vc_blocks`: a row per block. Its hashes are raw bytes, each in the order its hex is shown
    /// (the block hash as explorers show it), so `hex(block_hash)` reads as usual.
    static let blockColumns = """
        height INTEGER PRIMARY KEY, block_hash BLOB NOT NULL, ops_hash BLOB NOT NULL,
        consensus_hash BLOB NOT NULL, accepted INTEGER NOT NULL, rejected INTEGER NOT NULL
        """

    /// The columns every read of a block row takes, in ``blockRow(_:)``'s order.
    static let blockRowColumns = "height, block_hash, ops_hash, consensus_hash, accepted, rejected"

    /// A `vc_blocks` row read by a statement stepped to it (columns as ``blockRowColumns``);
    /// throws, naming the block and column, where a hash is not of its size and type (damage).
    static func blockRow(_ read: SQLiteDatabase.Statement, path: String) throws -> BlockRow {
        let height = read.integer(0)
        func hashBytes(_ column: Int32, _ name: String, size: Int) throws -> UnsafeRawBufferPointer {
            guard let bytes = read.blobBytes(column), bytes.count == size else {
                throw damagedRow(path: path, height: height, column: name)
            }
            return bytes
        }
        // The block hash is stored as it is shown (reversed); the others in their own order.
        let block = try hashBytes(1, "block_hash", size: 32)
        let blockHash = BlockHash(Hash256(bytes: block.reversed()))
        let ops = try hashBytes(2, "ops_hash", size: 32)
        let consensus = try hashBytes(3, "consensus_hash", size: ConsensusHash.consensusHashSize)
        return BlockRow(height: height, blockHash: blockHash, opsHash: Hash256(loading: ops.baseAddress!),
                        consensusHash: ConsensusDigest(loading: consensus.baseAddress!), accepted: read.integer(4), rejected: read.integer(5))
    }

    /// Block rows a query of ``blockRowColumns`` returns, in its order, to `body` until it returns false.
    func readBlockRows(_ sql: String, _ arguments: [SQLiteValue] = [], _ body: (BlockRow) throws -> Bool) throws {
        let read = try database.prepare(sql)
        try read.bind(arguments)
        while try read.step() {
            guard try body(try Self.blockRow(read, path: database.path)) else { return }
        }
    }

    func damagedRow(height: Int, column: String) -> StateStoreError { Self.damagedRow(path: database.path, height: height, column: column) }

    /// A row of the database at `path` whose `column` at `height` is not the hash it should be.
    static func damagedRow(path: String, height: Int, column: String) -> StateStoreError {
        StateStoreError(path: path, problem: "block \(height): \(column) is not a hash")
    }

    /// The database's size in bytes as SQLite sees it (committed or not): what a checkpoint of
    /// it would now hold.
    public func byteSize() throws -> Int {
        let pages = try database.run("PRAGMA page_count").first?.first?.int ?? 0
        let pageSize = try database.run("PRAGMA page_size").first?.first?.int ?? 0
        return pages * pageSize
    }

    /// The whole database as one image (SQLite's serialization), for a checkpoint: taken on the
    /// replay thread between batches, so it holds committed blocks only.
    public func snapshotImage() throws -> [UInt8] { try database.serializedImage() }

    /// The database file as a consistent image of the committed state, for a checkpoint to stream
    /// from without copying the database into memory.
    public struct FileSnapshot: Sendable {
        public let path: String
        /// Read the image through this descriptor (`pread`), never through one of your own: it
        /// belongs to the store and stays open as long as the store does.
        public let descriptor: Int32
        public let bytes: Int
    }

    /// The descriptor snapshots are read through, opened once and closed only after SQLite's
    /// connection: closing any descriptor of a file drops every POSIX lock the process holds on
    /// it, SQLite's included, and another process (`status`, a shell) would then take the
    /// database for unused and checkpoint and delete its log under the writer.
    private var snapshotReader: Int32 = -1

    /// Makes the database file itself an image of the committed state and keeps it so until
    /// ``endFileSnapshot()``: the write-ahead log is checkpointed into the file and truncated,
    /// and automatic checkpoints stop, so commits meanwhile stay in the log and the file does not
    /// change. Call between batches (no open transaction), and end the snapshot before closing
    /// the store (closing checkpoints the log). nil where the log could not be checkpointed
    /// completely (another process reading the state holds it): take ``snapshotImage()`` then.
    public func beginFileSnapshot() throws -> FileSnapshot? {
        try database.execute("PRAGMA wal_autocheckpoint=0")
        // A reader elsewhere (a `status` command, a user's sqlite3 shell) would make SQLite wait
        // for it: don't; the image in memory is the fallback.
        let result = try database.withoutBusyWait { try database.run("PRAGMA wal_checkpoint(TRUNCATE)").first }
        let path = directory + "/" + Self.fileName
        if snapshotReader < 0 { snapshotReader = open(path, O_RDONLY | O_CLOEXEC) }
        var info = stat()
        guard let result, result.first?.int == 0, result.count == 3, result[1].int == result[2].int,
              snapshotReader >= 0, fstat(snapshotReader, &info) == 0 else {
            try endFileSnapshot()
            return nil
        }
        return FileSnapshot(path: path, descriptor: snapshotReader, bytes: Int(info.st_size))
    }

    /// Lets SQLite checkpoint its log into the database file again (the default threshold).
    public func endFileSnapshot() throws {
        try database.execute("PRAGMA wal_autocheckpoint=\(Self.walAutocheckpointPages)")
    }

    /// SQLite's default: the log is checkpointed once it holds this many pages.
    static let walAutocheckpointPages = 1_000

    /// Closes the database; the store must not be used afterwards.
    public func close() {
        insertBlock = nil  // finalized before the connection closes
        database.close()
        removeCreatedSideFiles()
        if snapshotReader >= 0 {
            Glibc.close(snapshotReader)  // after SQLite's connection (see `snapshotReader`)
            snapshotReader = -1
        }
    }

    /// Removes the side files this reader made, unless a writer holds the state's lock (its
    /// connection uses them); holds the lock shared meanwhile, so none starts in between.
    private func removeCreatedSideFiles() {
        guard !createdSideFiles.isEmpty else { return }
        defer { createdSideFiles = [] }
        let lock = Glibc.open(directory + "/" + Self.lockFileName, O_RDONLY | O_CLOEXEC)
        if lock >= 0 {
            defer { Glibc.close(lock) }  // releases the shared lock
            guard flock(lock, LOCK_SH | LOCK_NB) == 0 else { return }
        }
        for path in createdSideFiles { unlink(path) }
    }

    deinit {
        close()
        rowHashes.deallocate()  // after the statement that reads it (finalized by `close`)
    }

    public func meta() throws -> Meta? { try Self.meta(of: database) }

    /// The machine, version, network and first block a state database says it holds.
    static func meta(of database: SQLiteDatabase) throws -> Meta? {
        var values: [String: String] = [:]
        for row in try database.run("SELECT key, value FROM vc_meta") { values[row[0].string ?? ""] = row[1].string }
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
    ///
    /// Each applied step is recorded with the SHA-256 of its SQL. A state whose applied steps
    /// differ from the machine's (a step edited after it ran, or one the code no longer has) is
    /// refused: replaying on it would mix two versions of the rules. (States made before steps
    /// were recorded with their hash get it recorded at the next open.)
    public func migrate(machine: String, steps: [String]) throws {
        let columns = try database.run("PRAGMA table_info(vc_migrations)").compactMap { $0[1].string }
        if !columns.contains("sql_sha256") { try database.execute("ALTER TABLE vc_migrations ADD COLUMN sql_sha256 BLOB") }
        var applied: [Int: [UInt8]?] = [:]
        for row in try database.run("SELECT step, sql_sha256 FROM vc_migrations WHERE machine = ?", [.text(machine)]) {
            applied[row[0].int ?? -1] = row[1].blob
        }
        func digest(_ sql: String) -> [UInt8] { Hashes.sha256(Array(sql.utf8)).bytes }
        for (step, recorded) in applied.sorted(by: { $0.key < $1.key }) {
            guard steps.indices.contains(step) else {
                throw StateStoreError(path: database.path, problem: "migration step \(step) of \(machine) was applied, but the machine has \(steps.count) steps: a state of other rules")
            }
            if let recorded {
                guard recorded == digest(steps[step]) else {
                    throw StateStoreError(path: database.path, problem: "migration step \(step) of \(machine) differs from the one applied to this state (edited after it ran): a state of other rules")
                }
            } else {
                try database.run("UPDATE vc_migrations SET sql_sha256 = ? WHERE machine = ? AND step = ?", [.blob(digest(steps[step])), .text(machine), SQLiteValue(step)])
            }
        }
        for (i, sql) in steps.enumerated() where applied[i] == nil {
            try database.transaction {
                try database.restricted { try database.execute(sql) }
                try database.run("INSERT INTO vc_migrations (machine, step, sql_sha256) VALUES (?, ?, ?)", [.text(machine), SQLiteValue(i), .blob(digest(sql))])
            }
        }
    }

    /// The machine's initial consensus hashes (heights below its first block), stored when the
    /// state was created. A state without the table (none had any) has none.
    public func initialHashes() throws -> [Int: ConsensusDigest] {
        guard try database.run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vc_initial_hashes'").first != nil else { return [:] }
        var hashes: [Int: ConsensusDigest] = [:]
        for row in try database.run("SELECT height, consensus_hash FROM vc_initial_hashes ORDER BY height") {
            let height = row[0].int ?? -1
            guard let bytes = row[1].blob, bytes.count == ConsensusHash.consensusHashSize else {
                throw StateStoreError(path: database.path, problem: "initial consensus hash at height \(height) is not a hash")
            }
            hashes[height] = bytes.withUnsafeBytes { ConsensusDigest(loading: $0.baseAddress!) }
        }
        return hashes
    }

    /// Stores the initial consensus hashes of a new state.
    func setInitialHashes(_ hashes: [Int: ConsensusDigest]) throws {
        for (height, digest) in hashes.sorted(by: { $0.key < $1.key }) {
            try database.run("INSERT INTO vc_initial_hashes (height, consensus_hash) VALUES (?, ?)",
                             [SQLiteValue(height), .blob(digest.withUnsafeBytes { Array($0) })])
        }
    }

    /// Every block's row, from the newest down, to `body` until it returns false.
    public func blocksNewestFirst(_ body: (BlockRow) throws -> Bool) throws {
        try readBlockRows("SELECT \(Self.blockRowColumns) FROM vc_blocks ORDER BY height DESC", [], body)
    }

    /// Every block's height and consensus hash, in height order, read without a value per row
    /// (a restart reads them all: a million rows on mainnet).
    public func consensusDigests(_ body: (_ height: Int, _ digest: ConsensusDigest) throws -> Void) throws {
        let read = try database.prepare("SELECT height, consensus_hash FROM vc_blocks ORDER BY height")
        while try read.step() {
            let height = read.integer(0)
            guard let bytes = read.blobBytes(1), bytes.count == ConsensusHash.consensusHashSize else {
                throw damagedRow(height: height, column: "consensus_hash")
            }
            try body(height, ConsensusDigest(loading: bytes.baseAddress!))
        }
    }

    /// The newest block's row.
    public func tip() throws -> BlockRow? { try Self.tip(of: database) }

    /// The newest block a state database holds (throws where its row is damaged: an image from a
    /// checkpoint is read before it is trusted).
    static func tip(of database: SQLiteDatabase) throws -> BlockRow? {
        let read = try database.prepare("SELECT \(blockRowColumns) FROM vc_blocks ORDER BY height DESC LIMIT 1")
        return try read.step() ? blockRow(read, path: database.path) : nil
    }

    /// What a state database file says of itself (machine and network, tip), read without
    /// changing it: to compare a checkpoint's image with its header before restoring it.
    public static func describe(databaseAt path: String) throws -> (meta: Meta?, tip: BlockRow?) {
        let database = try SQLiteDatabase(path: path, readOnly: true)
        defer { database.close() }
        return (try meta(of: database), try tip(of: database))
    }

    /// The stored row of the block at `height`.
    public func block(atHeight height: Int) throws -> BlockRow? {
        var found: BlockRow?
        try readBlockRows("SELECT \(Self.blockRowColumns) FROM vc_blocks WHERE height = ?", [SQLiteValue(height)]) { found = $0; return false }
        return found
    }

    /// The accepted records of the block at `height`, in commit order.
    public func records(atHeight height: Int) throws -> [StoredRecord] {
        try database.run("SELECT serialized, vtxindex, txid FROM vc_records WHERE height = ? ORDER BY position", [SQLiteValue(height)]).map {
            try storedRecord(height: height, serialized: $0[0], vtxindex: $0[1], txid: $0[2])
        }
    }

    /// Where the record made by transaction `txid` is: height and position in its block.
    public func recordLocation(txid: Txid) throws -> (height: Int, position: Int)? {
        try database.run("SELECT height, position FROM vc_records WHERE txid = ? ORDER BY height DESC LIMIT 1", [.text(txid.displayHex)]).first.map {
            ($0[0].int!, $0[1].int!)
        }
    }

    /// Every block's row and records, in height order (what `export` prints).
    public func export(_ body: (_ block: BlockRow, _ records: [StoredRecord]) throws -> Void) throws {
        var records: [Int: [StoredRecord]] = [:]
        for row in try database.run("SELECT height, serialized, vtxindex, txid FROM vc_records ORDER BY height, position") {
            let height = row[0].int ?? -1
            records[height, default: []].append(try storedRecord(height: height, serialized: row[1], vtxindex: row[2], txid: row[3]))
        }
        try readBlockRows("SELECT \(Self.blockRowColumns) FROM vc_blocks ORDER BY height") { block in
            try body(block, records[block.height] ?? [])
            return true
        }
    }

    /// An accepted record as stored (`vtxindex` and `txid` nil for records a block adds by itself).
    public struct StoredRecord: Sendable, Equatable {
        /// The machine's serialization of the record (what the ops hash covers), as text.
        public var serialized: String
        public var vtxindex: Int?
        public var txid: Txid?
    }

    private func storedRecord(height: Int, serialized: SQLiteValue, vtxindex: SQLiteValue, txid: SQLiteValue) throws -> StoredRecord {
        var id: Txid?
        if case let .text(hex) = txid {
            guard let parsed = Txid(displayHex: hex) else { throw damagedRow(height: height, column: "vc_records.txid") }
            id = parsed
        }
        return StoredRecord(serialized: String(decoding: serialized.blob ?? [], as: UTF8.self), vtxindex: vtxindex.int, txid: id)
    }

    public func counts() throws -> [(kind: String, count: Int)] {
        try database.run("SELECT kind, count FROM vc_counts ORDER BY kind").map { ($0[0].string!, $0[1].int!) }
    }

    /// A block's row in `vc_blocks` (its hashes stored as bytes, each in the order its hex is shown).
    public struct BlockRow: Sendable, Equatable {
        public var height: Int
        public var blockHash: BlockHash
        /// The ops hash's bytes in the order its hex shows them.
        public var opsHash: Hash256
        public var consensusHash: ConsensusDigest
        public var accepted: Int
        public var rejected: Int
    }

    /// One accepted record of a block, in commit order (`vtxindex` and `txid` nil for records
    /// the block adds by itself).
    public struct RecordRow: Sendable {
        public var vtxindex: Int?
        public var txid: Txid?
        public var opcode: String
        public var serialized: [UInt8]
    }

    /// Opens a batch of blocks: one write transaction, committed by ``commitBatch()``.
    func beginBatch() throws { try database.execute("BEGIN IMMEDIATE") }
    func commitBatch() throws { try database.execute("COMMIT") }
    func rollBackBatch() { try? database.execute("ROLLBACK") }

    /// Stores a processed block: its row, its records and its per-kind counts.
    func appendBlock(_ block: BlockRow, records: [RecordRow], counts: [String: Int]) throws {
        for (position, record) in records.enumerated() {
            try database.run("INSERT INTO vc_records (height, position, vtxindex, txid, opcode, serialized) VALUES (?, ?, ?, ?, ?, ?)", [
                SQLiteValue(block.height), SQLiteValue(position), record.vtxindex.map(SQLiteValue.init) ?? .null,
                SQLiteValue(record.txid?.displayHex), .text(record.opcode), .blob(record.serialized),
            ])
        }
        // Once per block: a statement kept prepared, its hashes written where it reads them.
        let insert = try insertBlockStatement()
        try insert.bindInteger(1, block.height)
        let raw = block.blockHash.rawHash
        let display = Hash256(a: raw.d.byteSwapped, b: raw.c.byteSwapped, c: raw.b.byteSwapped, d: raw.a.byteSwapped)
        rowHashes.storeBytes(of: display, toByteOffset: RowHashes.blockHash, as: Hash256.self)
        rowHashes.storeBytes(of: block.opsHash, toByteOffset: RowHashes.opsHash, as: Hash256.self)
        rowHashes.storeBytes(of: block.consensusHash.bytes, toByteOffset: RowHashes.consensusHash, as: (UInt64, UInt64).self)
        try insert.bindInteger(5, block.accepted)
        try insert.bindInteger(6, block.rejected)
        try insert.execute()
        if !counts.isEmpty { try addCounts(counts) }
    }

    private var insertBlock: SQLiteDatabase.Statement?

    /// Where a block row's three hashes are written before its insert runs: the statement binds
    /// this memory once, without copying (a copy per hash per block through SQLite's allocator
    /// cost more than the rest of the binding). Freed after the statement.
    private let rowHashes = UnsafeMutableRawPointer.allocate(byteCount: RowHashes.size, alignment: 16)
    private enum RowHashes {
        static let blockHash = 0, opsHash = 32, consensusHash = 64
        static let size = consensusHash + ConsensusHash.consensusHashSize
    }

    private func insertBlockStatement() throws -> SQLiteDatabase.Statement {
        if let insertBlock { return insertBlock }
        let made = try database.prepare("INSERT INTO vc_blocks (height, block_hash, ops_hash, consensus_hash, accepted, rejected) VALUES (?, ?, ?, ?, ?, ?)")
        try made.bindStaticBlob(2, rowHashes + RowHashes.blockHash, count: 32)
        try made.bindStaticBlob(3, rowHashes + RowHashes.opsHash, count: 32)
        try made.bindStaticBlob(4, rowHashes + RowHashes.consensusHash, count: ConsensusHash.consensusHashSize)
        insertBlock = made
        return made
    }

    func addCounts(_ counts: [String: Int]) throws {
        for (kind, n) in counts.sorted(by: { $0.key < $1.key }) where n != 0 {
            try database.run("INSERT INTO vc_counts (kind, count) VALUES (?, ?) ON CONFLICT(kind) DO UPDATE SET count = count + excluded.count",
                             [.text(kind), SQLiteValue(n)])
        }
    }
}

/// A state database whose content is not what the engine wrote (a damaged row, say).
public struct StateStoreError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}
