import BitcoinWire
import BlockFiles
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoints of a state directory (`DIR/checkpoints/checkpoint-<height>.vc.lz4`): listing,
/// verification, writing and retention. Knows nothing of any particular state machine.
public final class CheckpointStore: @unchecked Sendable {
    public let directory: String

    public struct Entry: Sendable {
        public var path: String
        public var bytes: Int
        public var header: CheckpointHeader?
        /// Why the checkpoint cannot be used, or nil if it verified.
        public var problem: String?
        /// Set when the file could not be read at all: an access problem, not damage.
        public var inaccessible: String?
        public var ok: Bool { header != nil && problem == nil }
    }

    /// Retention: the newest `keep` checkpoints, plus the newest in every `keepEvery`-block bucket
    /// further back (so a deep reorganisation still finds a base).
    public struct Retention: Sendable {
        public var keep: Int
        public var keepEvery: Int
        public init(keep: Int = 3, keepEvery: Int = 10_000) { self.keep = keep; self.keepEvery = keepEvery }
    }

    /// The checkpoints' directory inside a state directory.
    public static let directoryName = "checkpoints"

    public init(stateDirectory: String) {
        directory = stateDirectory + "/" + Self.directoryName
    }

    /// A checkpoint file's name: this prefix, the height (ten digits at least), this suffix.
    static let namePrefix = "checkpoint-", nameSuffix = ".vc.lz4"

    public static func fileName(height: Int) -> String {
        let digits = String(height)
        return namePrefix + String(repeating: "0", count: max(0, 10 - digits.count)) + digits + nameSuffix
    }

    /// The height a checkpoint's file name gives (`fileName(height:)`), if it is one.
    public static func height(fromPath path: String) -> Int? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard name.hasPrefix(namePrefix), name.hasSuffix(nameSuffix) else { return nil }
        return Int(name.dropFirst(namePrefix.count).dropLast(nameSuffix.count))
    }

    /// The greatest height among the checkpoint files (by name), if any.
    public func newestHeight() throws(CheckpointError) -> Int? {
        try paths().compactMap(Self.height(fromPath:)).max()
    }

    /// Checkpoint files, oldest first (by the height in their names); none when the directory does
    /// not exist. A directory that exists but cannot be listed is an error, never "no checkpoints"
    /// (a replay from scratch would silently take its place).
    public func paths() throws(CheckpointError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { throw CheckpointError.fileSystem("\(directory) is not a directory") }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw CheckpointError.fileSystem("\(directory): cannot be listed (\(Self.reason(error))); nothing was changed")
        }
        return names.filter { $0.hasPrefix(Self.namePrefix) && $0.hasSuffix(Self.nameSuffix) }.sorted().map { directory + "/" + $0 }
    }

    static func reason(_ error: Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let underlying, underlying.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(underlying.code))) }
        return (error as NSError).localizedDescription
    }

    /// Removes temporary files a killed writer left behind.
    public func removeLeftovers() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    /// Reads a checkpoint's header; with `payload`, also decompresses and verifies everything and
    /// returns the payload. A file that exists but cannot be read (permissions, too many open
    /// files, a directory in its place) is not damage: its entry says so in `inaccessible`.
    public func inspect(_ path: String, payload: Bool) -> (entry: Entry, payload: [UInt8]?) {
        guard payload else { return (examine(path, verifyPayload: false), nil) }
        var kept: [UInt8] = []
        let entry = examine(path, verifyPayload: true, into: { (piece: UnsafeRawBufferPointer) throws(CheckpointError) in kept.append(contentsOf: piece) })
        return (entry, entry.ok ? kept : nil)
    }

    /// Reads a checkpoint's header (only the file's first bytes: listing and retention look at
    /// every checkpoint) and, with `verifyPayload`, streams its payload through every check into
    /// `body`, a piece at a time: memory stays at a piece whatever the state's size. A header
    /// `objection` returns a reason for is not decoded: its entry has that reason as its problem.
    /// The entry says what is wrong; pieces handed before a problem was found are unverified.
    func examine(_ path: String, verifyPayload: Bool, objection: (CheckpointHeader) -> String? = { _ in nil },
                 into body: (UnsafeRawBufferPointer) throws(CheckpointError) -> Void = { (_: UnsafeRawBufferPointer) throws(CheckpointError) in }) -> Entry {
        func unreadable(_ reason: String, bytes: Int = 0) -> Entry {
            var entry = Entry(path: path, bytes: bytes, header: nil, problem: "cannot be read (\(reason))")
            entry.inaccessible = entry.problem
            return entry
        }
        let descriptor: Int32, size: Int
        do { (descriptor, size) = try ReadOnlyFile.open(path) } catch { return unreadable(error.message) }
        defer { close(descriptor) }
        var prefix = [UInt8](repeating: 0, count: min(size, CheckpointFile.headerFrameLimit))
        do throws(CheckpointError) {
            let read = try prefix.withUnsafeMutableBytes { raw in
                Result { () throws(CheckpointError) in
                    try CheckpointFile.fileSystem { () throws(BlockFileError) in
                        try ReadOnlyFile.read(descriptor, path: path, into: raw.baseAddress!, count: raw.count, at: 0)
                    }
                }
            }.get()
            prefix.removeLast(prefix.count - read)
            let (header, frameEnd) = try prefix.withUnsafeBytes { raw in
                Result { () throws(CheckpointError) in try CheckpointFile.readHeader(raw) }
            }.get()
            if let reason = objection(header) { return Entry(path: path, bytes: size, header: header, problem: reason) }
            if verifyPayload {
                try CheckpointFile.readPayload(descriptor: descriptor, path: path, fileBytes: size, header: header, frameEnd: frameEnd, into: body)
            }
            return Entry(path: path, bytes: size, header: header, problem: nil)
        } catch {
            if case let .fileSystem(reason) = error { return unreadable(reason, bytes: size) }
            return Entry(path: path, bytes: size, header: nil, problem: error.description)
        }
    }

    /// Every checkpoint, fully verified, oldest first (payloads checked as they stream by, none
    /// kept).
    public func verifyAll() throws(CheckpointError) -> [Entry] { try paths().map { examine($0, verifyPayload: true) } }

    /// Restores the newest checkpoint that verifies and that `accept` does not object to (it
    /// returns a reason to skip: wrong machine, network, height...): its payload, verified as it
    /// streams, becomes the file at `destination` (written atomically, only once all of it
    /// verified). Returns its entry, and the newer ones skipped, with why. A checkpoint that
    /// cannot be read at all stops the search with an error: skipping it would restore an older
    /// state than the user has, or none. `excluding` names checkpoints already found unusable by
    /// the caller (skipped unread); one objected to is not decoded.
    public func newestUsable(excluding: Set<String> = [], restoringTo destination: String,
                             accept: (CheckpointHeader) -> String?) throws(CheckpointError) -> (found: Entry?, skipped: [Entry]) {
        var skipped: [Entry] = []
        for path in try paths().reversed() where !excluding.contains(path) {
            let file = try CheckpointFile.fileSystem { () throws(BlockFileError) in try AtomicFile(path: destination) }
            var writeFailure: CheckpointError?
            let entry = examine(path, verifyPayload: true, objection: accept, into: { (piece: UnsafeRawBufferPointer) throws(CheckpointError) in
                do throws(BlockFileError) { try file.write(piece) } catch {
                    writeFailure = .fileSystem(error.description)
                    throw writeFailure!
                }
            })
            if let writeFailure { throw writeFailure }
            if entry.ok {
                try CheckpointFile.fileSystem { () throws(BlockFileError) in try file.commit() }
                return (entry, skipped)
            }
            if let inaccessible = entry.inaccessible {
                throw CheckpointError.fileSystem("\(path): \(inaccessible); nothing was changed")
            }
            skipped.append(entry)
        }
        return (nil, skipped)
    }

    /// Encodes and writes a checkpoint atomically, then applies retention.
    @discardableResult
    public func write(header: CheckpointHeader, payload: [UInt8], retention: Retention) throws(CheckpointError) -> String {
        try write(header: header, payload: payload, retention: retention, faults: .none)
    }

    /// As ``write(header:payload:retention:)``, with faults a test injects.
    @discardableResult
    package func write(header: CheckpointHeader, payload: [UInt8], retention: Retention, faults: WriteFaults) throws(CheckpointError) -> String {
        try place(height: header.height, retention: retention) { path throws(CheckpointError) in
            let encoded = try payload.withUnsafeBytes { raw in
                Result { () throws(CheckpointError) in try CheckpointFile.encode(header: header, payload: raw) }
            }.get()
            try CheckpointFile.writeAtomically(encoded, to: path, faults: faults)
        }
    }

    /// Streams a checkpoint whose payload is the first `payloadBytes` bytes of the file at
    /// `payloadPath`, read through `payloadDescriptor` (see
    /// `CheckpointFile.writeAtomically(header:payloadDescriptor:...)`), then applies retention.
    /// The header's payload size and SHA-256 are filled in.
    @discardableResult
    public func write(header: CheckpointHeader, payloadDescriptor: Int32, payloadPath: String, payloadBytes: Int, retention: Retention,
                      threads: Int = 1) throws(CheckpointError) -> String {
        try write(header: header, payloadDescriptor: payloadDescriptor, payloadPath: payloadPath, payloadBytes: payloadBytes,
                  retention: retention, threads: threads, faults: .none)
    }

    /// As ``write(header:payloadDescriptor:payloadPath:payloadBytes:retention:threads:)``, with
    /// faults a test injects.
    @discardableResult
    package func write(header: CheckpointHeader, payloadDescriptor: Int32, payloadPath: String, payloadBytes: Int, retention: Retention,
                       threads: Int = 1, faults: WriteFaults) throws(CheckpointError) -> String {
        try place(height: header.height, retention: retention) { path throws(CheckpointError) in
            try CheckpointFile.writeAtomically(header: header, payloadDescriptor: payloadDescriptor, payloadPath: payloadPath,
                                               payloadBytes: payloadBytes, to: path, threads: threads, faults: faults)
        }
    }

    /// Makes the directory, has `write` write the checkpoint of `height` at its path, then
    /// applies retention; returns the path.
    private func place(height: Int, retention: Retention, _ write: (String) throws(CheckpointError) -> Void) throws(CheckpointError) -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.fileSystem("\(directory): cannot create: \(error)")
        }
        let path = directory + "/" + Self.fileName(height: height)
        try write(path)
        prune(retention)
        return path
    }

    /// Deletes checkpoints retention does not keep. Only files whose header reads are candidates
    /// for deletion; damaged files are left for the user to inspect.
    public func prune(_ retention: Retention) {
        let entries = ((try? paths()) ?? []).map { inspect($0, payload: false).entry }.filter(\.ok)
        let newestFirst = entries.sorted { $0.header!.height > $1.header!.height }
        var keep = Set(newestFirst.prefix(max(1, retention.keep)).map(\.path))
        var buckets = Set<Int>()
        for entry in newestFirst {
            let bucket = entry.header!.height / max(1, retention.keepEvery)
            if buckets.insert(bucket).inserted { keep.insert(entry.path) }
        }
        for entry in entries where !keep.contains(entry.path) {
            try? FileManager.default.removeItem(atPath: entry.path)
        }
    }
}
