import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A state database file and the files SQLite keeps beside it (its write-ahead log and shared
/// memory), handled as one: moved, removed and checked together. The state store owns its files;
/// the importer moves a damaged state aside, replaces it with a restored one, and removes a
/// replaced one through this, never by naming SQLite's files itself.
public struct StateDatabaseFile: Sendable, CustomStringConvertible {
    public let path: String

    public init(path: String) { self.path = path }

    /// The live state database of a state directory.
    public init(stateDirectory: String) { self.init(path: stateDirectory + "/" + StateStore.fileName) }

    /// SQLite's files beside the database: its write-ahead log and shared memory.
    public var sideFilePaths: [String] { [path + "-wal", path + "-shm"] }

    /// The database and its side files.
    public var allPaths: [String] { [path] + sideFilePaths }

    /// The names in a state directory that belong to its live database.
    public static var namesInStateDirectory: [String] { StateDatabaseFile(path: StateStore.fileName).allPaths }

    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    public var description: String { path }

    /// Moves the database and its side files (those present) to `destination`'s names.
    public func move(to destination: StateDatabaseFile) throws {
        for (from, to) in zip(allPaths, destination.allPaths) where FileManager.default.fileExists(atPath: from) {
            try FileManager.default.moveItem(atPath: from, toPath: to)
        }
    }

    /// Removes the side files, then the database (a crash in between never leaves a log that
    /// SQLite would replay into another database put at this path).
    public func remove() throws {
        for file in sideFilePaths + [path] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.removeItem(atPath: file)
        }
    }

    /// nil when the database opens and passes SQLite's `quick_check`; what is wrong when its
    /// content is damaged. A database that cannot be reached at all (a directory in its place,
    /// permissions, the open-file limit) is not damage: that throws, and nothing is touched.
    public func damage() throws(StateDatabaseUnreachable) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .isADirectory(path: path)
        }
        guard access(path, R_OK | W_OK) == 0 else {
            throw .cannotOpen(path: path, reason: "for reading and writing: " + String(cString: strerror(errno)))
        }
        let database: SQLiteDatabase
        do {
            database = try SQLiteDatabase(path: path)
        } catch let error as SQLiteError where error.isDamage {
            return error.message
        } catch {
            throw .cannotOpen(path: path, reason: "\(error)")
        }
        defer { database.close() }
        return database.quickCheck()
    }
}

/// A state database that cannot be reached (as opposed to damaged): nothing was changed.
public enum StateDatabaseUnreachable: Error, CustomStringConvertible, Sendable {
    /// A directory stands where the state database should be.
    case isADirectory(path: String)
    /// The database cannot be opened (permissions, the open-file limit).
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case let .isADirectory(path): "\(path) is a directory, not a state database; nothing was changed"
        case let .cannotOpen(path, reason): "\(path) cannot be opened (\(reason)); nothing was changed"
        }
    }
}
