import CSQLite

/// A Swift value that can be bound to a statement and read back from a column.
public protocol DatabaseValueConvertible {
    var databaseValue: SQLiteValue { get }
    /// The value of a column, or nil when it is NULL or of another type.
    static func fromDatabaseValue(_ value: SQLiteValue) -> Self?
}

extension Int: DatabaseValueConvertible {
    public var databaseValue: SQLiteValue { .integer(Int64(self)) }
    public static func fromDatabaseValue(_ value: SQLiteValue) -> Int? { value.int }
}

extension Int64: DatabaseValueConvertible {
    public var databaseValue: SQLiteValue { .integer(self) }
    public static func fromDatabaseValue(_ value: SQLiteValue) -> Int64? {
        if case let .integer(n) = value { return n }
        return nil
    }
}

extension Bool: DatabaseValueConvertible {
    public var databaseValue: SQLiteValue { .integer(self ? 1 : 0) }
    public static func fromDatabaseValue(_ value: SQLiteValue) -> Bool? { value.int.map { $0 != 0 } }
}

extension Double: DatabaseValueConvertible {
    public var databaseValue: SQLiteValue { .real(self) }
    public static func fromDatabaseValue(_ value: SQLiteValue) -> Double? {
        switch value {
        case let .real(d): d
        case let .integer(n): Double(n)
        default: nil
        }
    }
}

extension String: DatabaseValueConvertible {
    public var databaseValue: SQLiteValue { .text(self) }
    public static func fromDatabaseValue(_ value: SQLiteValue) -> String? { value.string }
}

extension Array: DatabaseValueConvertible where Element == UInt8 {
    public var databaseValue: SQLiteValue { .blob(self) }
    public static func fromDatabaseValue(_ value: SQLiteValue) -> [UInt8]? { value.blob }
}

extension Optional: DatabaseValueConvertible where Wrapped: DatabaseValueConvertible {
    public var databaseValue: SQLiteValue { self?.databaseValue ?? .null }
    /// NULL reads as `.some(nil)`; a value of another type as nil.
    public static func fromDatabaseValue(_ value: SQLiteValue) -> Wrapped?? {
        value == .null ? .some(nil) : Wrapped.fromDatabaseValue(value).map { .some($0) }
    }
}

extension SQLiteValue: DatabaseValueConvertible {
    public var databaseValue: SQLiteValue { self }
    public static func fromDatabaseValue(_ value: SQLiteValue) -> SQLiteValue? { value }
}

/// A value read from a column was not of the type asked for.
public struct DatabaseTypeError: Error, CustomStringConvertible, Sendable {
    public var column: Int
    public var found: SQLiteValue
    public var expected: String
    public var description: String { "column \(column) holds \(found), not a value of type \(expected)" }
}

/// One row of a query's result.
public struct Row: Sendable {
    public let values: [SQLiteValue]
    /// Column names, in order.
    public let columns: [String]

    /// The value at `index` as `T`; throws if it is of another type (NULL reads only as an optional).
    public func get<T: DatabaseValueConvertible>(_ index: Int, as type: T.Type = T.self) throws -> T {
        guard values.indices.contains(index), let value = T.fromDatabaseValue(values[index]) else {
            throw DatabaseTypeError(column: index, found: values.indices.contains(index) ? values[index] : .null, expected: "\(T.self)")
        }
        return value
    }

    /// The value of column `name` as `T`.
    public func get<T: DatabaseValueConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let index = columns.firstIndex(of: name) else {
            throw DatabaseTypeError(column: -1, found: .null, expected: "\(T.self) (no column \(name))")
        }
        return try get(index, as: type)
    }
}

/// The state as a machine sees it: its own tables, to read and write with typed values.
///
/// Narrower than the database it wraps, on purpose: a machine cannot open or end transactions
/// or savepoints, attach databases, change settings, close the connection, or write the
/// engine's `vc_*` tables (SQLite's authorizer refuses such statements). The engine decides
/// what is committed: a block's changes with its consensus hash, an operation's changes only if
/// it is accepted.
///
/// ```swift
/// let count = try block.database.fetchOne(Int.self, "SELECT count(*) FROM entries WHERE sender = ?", [sender]) ?? 0
/// try block.database.execute("INSERT INTO entries VALUES (?, ?, ?)", [sender, message, block.height])
/// ```
public struct MachineDatabase {
    let database: SQLiteDatabase

    init(_ database: SQLiteDatabase) { self.database = database }

    /// Runs a statement (or, without arguments, several separated by semicolons).
    public func execute(_ sql: String, _ arguments: [any DatabaseValueConvertible] = []) throws {
        try database.restricted {
            if arguments.isEmpty && sql.contains(";") {
                try database.execute(sql)
            } else {
                _ = try database.run(Self.cachePrefix + sql, arguments.map(\.databaseValue))
            }
        }
    }

    /// Every row of a query.
    public func fetchAll(_ sql: String, _ arguments: [any DatabaseValueConvertible] = []) throws -> [Row] {
        try rows(sql, arguments, limit: .max)
    }

    /// The first row of a query, if any (the query is not stepped further).
    public func fetchOne(_ sql: String, _ arguments: [any DatabaseValueConvertible] = []) throws -> Row? {
        try rows(sql, arguments, limit: 1).first
    }

    private func rows(_ sql: String, _ arguments: [any DatabaseValueConvertible], limit: Int) throws -> [Row] {
        try database.restricted {
            let statement = try database.statement(Self.cachePrefix + sql)
            try statement.bind(arguments.map(\.databaseValue))
            let columns = statement.columnNames()
            var rows: [Row] = []
            while rows.count < limit, try statement.step() { rows.append(Row(values: statement.row(), columns: columns)) }
            statement.reset()  // a query left part-way would hold its read snapshot
            return rows
        }
    }

    /// The first column of every row, as `T`.
    public func fetchAll<T: DatabaseValueConvertible>(_ type: T.Type, _ sql: String, _ arguments: [any DatabaseValueConvertible] = []) throws -> [T] {
        try fetchAll(sql, arguments).map { try $0.get(0, as: T.self) }
    }

    /// The first column of the first row as `T`; nil when there is no row or the value is NULL.
    public func fetchOne<T: DatabaseValueConvertible>(_ type: T.Type, _ sql: String, _ arguments: [any DatabaseValueConvertible] = []) throws -> T? {
        guard let row = try fetchOne(sql, arguments) else { return nil }
        return try row.get(0, as: T?.self)
    }

    /// Whether a query returns at least one row.
    public func exists(_ sql: String, _ arguments: [any DatabaseValueConvertible] = []) throws -> Bool {
        try fetchOne(sql, arguments) != nil
    }

    /// Marks the statements a machine prepares, so they are cached apart from the engine's
    /// (SQLite authorizes a statement when it is prepared: under the machine's restrictions).
    static let cachePrefix = "-- machine\n"
}
