import BlockFiles
import CSQLite
#if canImport(Glibc)
import Glibc
#endif

public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var code: Int32
    public var message: String
    public var description: String { "\(path): SQLite error \(code): \(message)" }

    /// The file's content is damaged or is no database (`SQLITE_CORRUPT`, `SQLITE_NOTADB`), as
    /// opposed to a file that cannot be reached (permissions, open-file limits, I/O, locks).
    public var isDamage: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }
}

// SQLITE_TRANSIENT tells SQLite to copy bound text and blobs before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin wrapper over the SQLite C API: one connection, prepared statements, transactions.
/// Chosen over GRDB to keep per-block commits free of an extra layer on the hot path.
public final class SQLiteDatabase {
    public let path: String
    private var handle: OpaquePointer?
    private var cache: [String: Statement] = [:]
    private let authorizer = Authorizer()

    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        // SQLite would open a named pipe and wait on it for ever, and a device as if it were a
        // database: only a regular file (or none yet, to create) is opened.
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
            throw SQLiteError(path: path, code: SQLITE_CANTOPEN, message: "cannot open: it is \(ReadOnlyFile.describeType(info.st_mode)), not a database file")
        }
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let status = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        if status != SQLITE_OK {
            let message = Self.message(of: handle, status: status, otherwise: "cannot open")
            sqlite3_close(handle)
            handle = nil
            throw SQLiteError(path: path, code: status, message: message)
        }
        sqlite3_busy_timeout(handle, Self.busyTimeoutMilliseconds)
        sqlite3_set_authorizer(handle, authorize, Unmanaged.passUnretained(authorizer).toOpaque())
        if !readOnly {
            // WAL: a crash leaves the database at the last committed block; readers never block.
            try execute("PRAGMA journal_mode=WAL")
            try execute("PRAGMA synchronous=NORMAL")
        }
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit { close() }

    /// How long a statement waits for another connection's lock before failing with BUSY.
    static let busyTimeoutMilliseconds: Int32 = 5_000

    /// Runs `body` without waiting on other connections' locks (BUSY at once): for work that
    /// has a fallback and must not stall the replay.
    func withoutBusyWait<T>(_ body: () throws -> T) rethrows -> T {
        sqlite3_busy_timeout(handle, 0)
        defer { sqlite3_busy_timeout(handle, Self.busyTimeoutMilliseconds) }
        return try body()
    }

    public func close() {
        cache.removeAll()
        savepoints.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    func error(_ status: Int32) -> SQLiteError {
        SQLiteError(path: path, code: status, message: Self.message(of: handle, status: status, otherwise: "closed"))
    }

    /// SQLite's words for the last failure on `handle` (`otherwise` without one), with the
    /// system's where they tell more.
    static func message(of handle: OpaquePointer?, status: Int32, otherwise: String) -> String {
        (handle.map { String(cString: sqlite3_errmsg($0)) } ?? otherwise) + systemError(of: handle, status: status)
    }

    /// What the operating system said, where SQLite's own words hide it: its "disk I/O error" is a
    /// full disk as often as a failing one (SQLite cannot grow its shared-memory file then), and
    /// a user must know which.
    static func systemError(of handle: OpaquePointer?, status: Int32) -> String {
        guard let handle, [SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_FULL].contains(status & 0xff) else { return "" }
        let code = sqlite3_system_errno(handle)
        return code == 0 ? "" : " (\(String(cString: strerror(code))))"
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw SQLiteError(path: path, code: status, message: "\(text)\(Self.systemError(of: handle, status: status)) in: \(sql.prefix(200))")
        }
    }

    /// Distinct statements cached at most: a machine that writes its values into the SQL text
    /// (rather than binding them) makes a new one per call; the cache then starts afresh rather
    /// than grow with the chain. Far above what a machine with bound arguments uses.
    public static let statementCacheLimit = 256

    /// A cached prepared statement, reset and with bindings cleared.
    public func statement(_ sql: String) throws -> Statement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        let statement = try prepare(sql)
        // Statements handed out stay valid: a caller's reference keeps one alive until it is done.
        if cache.count >= Self.statementCacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[sql] = statement
        return statement
    }

    /// Statements in the cache now (for tests: the bound holds).
    var cachedStatements: Int { cache.count }

    /// Runs `sql` with `values` bound in order; returns the rows (each an array of values).
    @discardableResult
    public func run(_ sql: String, _ values: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        let statement = try self.statement(sql)
        try statement.bind(values)
        var rows: [[SQLiteValue]] = []
        while try statement.step() { rows.append(statement.row()) }
        return rows
    }

    /// Runs `body` in one transaction: all of it is committed, or none of it.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` inside a savepoint of the current transaction: if it throws, everything it
    /// wrote is rolled back (the enclosing transaction goes on) and the error is rethrown.
    public func savepoint<T>(_ name: String = "operation", _ body: () throws -> T) throws -> T {
        // Prepared once per name: the engine opens a savepoint per block and one per operation,
        // and building and looking up their SQL each time cost more than running them.
        let statements = try savepointStatements(name)
        try statements.begin.execute()
        do {
            let result = try body()
            try statements.release.execute()
            return result
        } catch {
            try statements.rollback.execute()
            try statements.release.execute()
            throw error
        }
    }

    private var savepoints: [String: (begin: Statement, release: Statement, rollback: Statement)] = [:]

    private func savepointStatements(_ name: String) throws -> (begin: Statement, release: Statement, rollback: Statement) {
        if let known = savepoints[name] { return known }
        let made = (try prepare("SAVEPOINT \(name)"), try prepare("RELEASE \(name)"), try prepare("ROLLBACK TO \(name)"))
        savepoints[name] = made
        return made
    }

    /// A prepared statement the caller keeps (not in the cache: no lookup by its text per use).
    public func prepare(_ sql: String) throws -> Statement {
        var raw: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard status == SQLITE_OK, let raw else { throw SQLiteError(path: path, code: status, message: "\(Self.message(of: handle, status: status, otherwise: "closed")) in: \(sql)") }
        return Statement(database: self, handle: raw)
    }

    /// Runs `body` with the restrictions of a state machine's code (see `MachineDatabase`):
    /// statements prepared meanwhile may not control transactions, attach databases, set
    /// pragmas, or write or change the engine's `vc_*` tables.
    func restricted<T>(_ body: () throws -> T) rethrows -> T {
        let before = authorizer.restricted
        authorizer.restricted = true
        defer { authorizer.restricted = before }
        return try body()
    }

    /// A consistent image of the whole database file (committed WAL content included), as the
    /// bytes a database file would hold: what a checkpoint stores.
    public func serializedImage() throws -> [UInt8] {
        var size: sqlite3_int64 = 0
        guard let pointer = sqlite3_serialize(handle, "main", &size, 0) else { throw error(SQLITE_NOMEM) }
        defer { sqlite3_free(pointer) }
        return Array(UnsafeRawBufferPointer(start: pointer, count: Int(size)))
    }

    /// `PRAGMA quick_check`: nil when the database is sound, otherwise what is wrong.
    public func quickCheck() -> String? {
        guard let rows = try? run("PRAGMA quick_check") else { return "cannot be read" }
        let result = rows.compactMap { $0.first?.string }.joined(separator: "; ")
        return result == "ok" ? nil : result
    }

    public final class Statement {
        unowned let database: SQLiteDatabase
        let handle: OpaquePointer

        init(database: SQLiteDatabase, handle: OpaquePointer) {
            self.database = database
            self.handle = handle
        }

        deinit { sqlite3_finalize(handle) }

        func reset() {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }

        public func bind(_ values: [SQLiteValue]) throws {
            for (i, value) in values.enumerated() {
                let index = Int32(i + 1)
                let status: Int32
                switch value {
                case let .integer(n): status = sqlite3_bind_int64(handle, index, n)
                case let .real(d): status = sqlite3_bind_double(handle, index, d)
                case let .text(s): status = sqlite3_bind_text(handle, index, s, -1, transient)
                case let .blob(b): status = b.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), transient) }
                case .null: status = sqlite3_bind_null(handle, index)
                }
                if status != SQLITE_OK { throw database.error(status) }
            }
        }

        /// Binds text given as UTF-8 bytes (copied by SQLite) at 1-based `index`.
        public func bindText(_ index: Int32, utf8: UnsafeRawBufferPointer) throws {
            let status = sqlite3_bind_text(handle, index, utf8.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(utf8.count), transient)
            if status != SQLITE_OK { throw database.error(status) }
        }

        public func bindText(_ index: Int32, _ string: String) throws {
            var string = string
            try string.withUTF8 { try bindText(index, utf8: UnsafeRawBufferPointer($0)) }
        }

        /// Binds a blob (copied by SQLite) at 1-based `index`.
        public func bindBlob(_ index: Int32, _ bytes: UnsafeRawBufferPointer) throws {
            // A zero-length blob, not NULL, where the buffer has no address.
            let status = bytes.baseAddress.map { sqlite3_bind_blob(handle, index, $0, Int32(bytes.count), transient) }
                ?? sqlite3_bind_zeroblob(handle, index, 0)
            if status != SQLITE_OK { throw database.error(status) }
        }

        /// Binds `count` bytes at `pointer` as a blob without copying them (`SQLITE_STATIC`):
        /// SQLite reads them whenever the statement runs, so they must stay allocated until the
        /// statement is finalized or the parameter bound again; changing them between runs
        /// changes what the next run stores.
        public func bindStaticBlob(_ index: Int32, _ pointer: UnsafeRawPointer, count: Int) throws {
            let status = sqlite3_bind_blob(handle, index, pointer, Int32(count), nil)
            if status != SQLITE_OK { throw database.error(status) }
        }

        public func bindInteger(_ index: Int32, _ value: Int) throws {
            let status = sqlite3_bind_int64(handle, index, Int64(value))
            if status != SQLITE_OK { throw database.error(status) }
        }

        /// Runs a statement that returns no rows, then resets it for the next use.
        public func execute() throws {
            defer { sqlite3_reset(handle) }
            while try step() {}
        }

        /// Advances; true while a row is available.
        public func step() throws -> Bool {
            let status = sqlite3_step(handle)
            if status == SQLITE_ROW { return true }
            if status == SQLITE_DONE { return false }
            throw database.error(status)
        }

        public func columnNames() -> [String] {
            (0..<sqlite3_column_count(handle)).map { String(cString: sqlite3_column_name(handle, $0)) }
        }

        public func row() -> [SQLiteValue] {
            (0..<sqlite3_column_count(handle)).map { column($0) }
        }

        /// Column `i` of the current row as an integer (0 for NULL), without making a value.
        public func integer(_ i: Int32) -> Int { Int(sqlite3_column_int64(handle, i)) }

        /// Column `i` of the current row where it is a blob: its bytes, valid until the statement
        /// steps or resets (nil for any other type).
        public func blobBytes(_ i: Int32) -> UnsafeRawBufferPointer? {
            guard sqlite3_column_type(handle, i) == SQLITE_BLOB else { return nil }
            let count = Int(sqlite3_column_bytes(handle, i))
            return UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, i), count: count)
        }

        public func column(_ i: Int32) -> SQLiteValue {
            switch sqlite3_column_type(handle, i) {
            case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, i))
            case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, i))
            case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(handle, i)))
            case SQLITE_BLOB:
                let count = Int(sqlite3_column_bytes(handle, i))
                guard count > 0, let pointer = sqlite3_column_blob(handle, i) else { return .blob([]) }
                return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
            default: return .null
            }
        }
    }
}

/// Whether statements are being prepared for a state machine (the authorizer's context).
private final class Authorizer {
    var restricted = false
}

/// SQLite's authorizer callback: allows everything, except, while restricted, what a state
/// machine must not do (see `SQLiteDatabase.restricted`).
private let authorize: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                                       UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32 = { context, action, first, second, _, _ in
    guard let context, Unmanaged<Authorizer>.fromOpaque(context).takeUnretainedValue().restricted else { return SQLITE_OK }
    switch action {
    case SQLITE_TRANSACTION, SQLITE_SAVEPOINT, SQLITE_ATTACH, SQLITE_DETACH:
        return SQLITE_DENY
    case SQLITE_PRAGMA:
        return second == nil ? SQLITE_OK : SQLITE_DENY  // reading a pragma, not setting one
    case SQLITE_READ, SQLITE_SELECT, SQLITE_FUNCTION, SQLITE_RECURSIVE:
        return SQLITE_OK
    default:
        // Writes and schema changes name the table (or index) in one of the first two arguments.
        for name in [first, second] {
            if let name, String(cString: name).hasPrefix(StateStore.engineTablePrefix) { return SQLITE_DENY }
        }
        return SQLITE_OK
    }
}

/// A value stored in or read from SQLite.
public enum SQLiteValue: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(_ value: Int) { self = .integer(Int64(value)) }
    public init(_ value: String?) { self = value.map { .text($0) } ?? .null }

    public var int: Int? { if case let .integer(n) = self { return Int(n) }; return nil }
    public var string: String? { if case let .text(s) = self { return s }; return nil }
    public var blob: [UInt8]? { if case let .blob(b) = self { return b }; return nil }
    public var isNull: Bool { self == .null }
}
