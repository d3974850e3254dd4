import BitcoinWire

/// Where a block record is: file number, offset of its 8-byte header, payload size.
public struct RecordLocation: Hashable, Sendable {
    public var file: Int
    public var offset: Int
    public var size: Int
    public init(file: Int, offset: Int, size: Int) { self.file = file; self.offset = offset; self.size = size }
    /// Offset of the payload (the block itself).
    public var payloadOffset: Int { offset + BlockFileFormat.recordHeaderSize }
}

/// Something wrong in a block file that the scanner stepped over.
public struct RecordProblem: Sendable, CustomStringConvertible {
    public var path: String
    public var offset: Int
    public var message: String
    public init(path: String, offset: Int, message: String) { self.path = path; self.offset = offset; self.message = message }
    public var description: String { "\(path) at offset \(offset): \(message)" }
}

/// Walks the records of one `blk*.dat` (or `rev*.dat`) file: skips pre-allocation zeros,
/// checks each record's magic and size, and resynchronises on the next magic after garbage.
///
/// It reads through a ``FileWindow`` and sets how: where records are large, each record's first
/// bytes only, without read-ahead (the bytes between stay on disk: each byte of a block body is
/// for the block pass to read, once); where they are small, a window at a time with read-ahead
/// (their first bytes fill most pages anyway, and one read serves several records). It starts
/// sparse and judges by the average size of the records it has just passed, as it goes (blocks
/// grow along a chain: blk00000 starts with tiny ones).
public struct RecordScanner {
    /// Block records hold a block (at least a header and a transaction count); undo records hold
    /// a `CBlockUndo` (one byte at least) followed by a 32-byte checksum.
    public enum Kind: Sendable {
        case block, undo
        public var trailer: Int { self == .undo ? 32 : 0 }
        var minimumSize: Int { self == .undo ? 1 : BlockHeader.size + 1 }
        var name: String { self == .undo ? "undo data" : "a block" }
        /// Zero bytes (as stored) at a record's end, followed by nothing but zeros, that make it
        /// one bitcoind is still writing into its reserved space. An undo record ends in its
        /// checksum, never 32 zero bytes. A complete block may end in 36 (a segwit coinbase-only
        /// block: its 32-byte witness reserved value and a zero lock time, unobfuscated), never
        /// in 64 as far as anything standard goes.
        var unwrittenTailBytes: Int { self == .undo ? 32 : 64 }
    }

    public let file: FileWindow
    public let number: Int
    public let magic: UInt32
    public let xorKey: XorKey
    public let kind: Kind
    /// True for the newest file, where a record cut short is "not yet written" rather than damage.
    public let isNewest: Bool
    public private(set) var position = 0
    public private(set) var problems: [RecordProblem] = []
    /// Set when the newest file ends in a record still being written.
    public private(set) var incompleteTail: Int?
    /// Another network whose magic starts a record here (a wrong `--network`, most likely).
    public private(set) var foreignNetwork: Network?

    /// `startingAt`: resume where an earlier scan of the same file stopped (records before it
    /// are known already; bitcoind only ever appends).
    public init(file: FileWindow, number: Int, magic: UInt32, xorKey: XorKey, isNewest: Bool, kind: Kind = .block, startingAt offset: Int = 0) {
        self.file = file
        self.number = number
        self.magic = magic
        self.xorKey = xorKey
        self.isNewest = isNewest
        self.kind = kind
        position = min(max(0, offset), file.count)
        lastRecordEnd = position
        file.readSize = FileWindow.sparseReadSize
        file.adviseReadAhead(false)
    }

    /// Average record size from which records are read sparsely (their first bytes only, no
    /// read-ahead): a page of body or more between one record's header and the next.
    public static let sparseRecordSize = 8 * 1024
    /// Records whose average size decides how the next ones are read.
    static let sizeWindow = 16
    private var dense = false
    private var windowBytes = 0, windowRecords = 0

    /// Counts a record towards the read mode; every `sizeWindow` records, switches it if the
    /// average size says so.
    private mutating func judge(size: Int) {
        windowBytes += size
        windowRecords += 1
        guard windowRecords == Self.sizeWindow else { return }
        let small = windowBytes / Self.sizeWindow < Self.sparseRecordSize
        windowBytes = 0
        windowRecords = 0
        guard small != dense else { return }
        dense = small
        file.readSize = small ? FileWindow.denseReadSize : FileWindow.sparseReadSize
        file.adviseReadAhead(small)
    }

    /// Where a later scan of this file, grown by appends, should resume: the start of a record
    /// cut short, or the end of the last complete one (the zeros after it may fill in).
    public var resumeOffset: Int { incompleteTail ?? lastRecordEnd }
    /// The end of the last complete record returned (or the starting offset).
    public private(set) var lastRecordEnd = 0

    /// The file ended before `offset + length` although it was longer when opened.
    private func shrank(at offset: Int) -> BlockFileError {
        BlockFileError(path: file.path, offset: offset, "the file ended while being read (it was \(file.count) bytes): changed by another process?")
    }

    /// The 8 bytes at `offset` as stored (`raw`) and with the obfuscation removed (`decoded`).
    @inline(__always) func word(at offset: Int) throws(BlockFileError) -> (raw: UInt64, decoded: UInt64) {
        let bytes = try file.bytes(at: offset, count: 8)
        guard bytes.count == 8 else { throw shrank(at: offset) }
        let raw = bytes.loadUnaligned(as: UInt64.self)
        return (raw, decode(raw, at: offset))
    }

    @inline(__always) func decode(_ raw: UInt64, at offset: Int) -> UInt64 {
        xorKey.isIdentity ? raw : raw ^ xorKey.rotatedWord(fileOffset: offset)
    }

    /// The next record, or nil at the end of the file.
    public mutating func next() throws(BlockFileError) -> RecordLocation? {
        let count = file.count
        while position + 8 <= count {
            let (raw, header) = try word(at: position)
            let recordMagic = UInt32(truncatingIfNeeded: header)
            if recordMagic != magic {
                // Pre-allocated space is raw zeros (Core never obfuscates it): skip the whole run.
                if UInt32(truncatingIfNeeded: raw) == 0 {
                    try skipZeros()
                    continue
                }
                let start = position
                if try isBeingWritten(at: start) { return nil }
                if foreignNetwork == nil { foreignNetwork = Network.fromMagic(recordMagic) }
                try resync(from: position + 1)
                let kind = Network.fromMagic(recordMagic).map { "magic of \($0.rawValue), not of this network" } ?? "bytes that are not a record"
                problems.append(RecordProblem(path: file.path, offset: start,
                                              message: "\(kind) (\(position - start) bytes skipped)"))
                continue
            }
            let size = Int(UInt32(truncatingIfNeeded: header >> 32))
            let end = position + 8 + size + kind.trailer
            if size > Limits.maxBlockSerializedSize || size < kind.minimumSize {
                let start = position
                if try isBeingWritten(at: start) { return nil }
                problems.append(RecordProblem(path: file.path, offset: start,
                                              message: "record size \(size) is impossible for \(kind.name) (\(kind.minimumSize) bytes to 4,000,000)"))
                try resync(from: position + 1)
                continue
            }
            if end > count {
                if isNewest {
                    incompleteTail = position  // still being written by bitcoind
                } else {
                    problems.append(RecordProblem(path: file.path, offset: position,
                                                  message: "record of \(size + kind.trailer) bytes runs past the end of the file (\(count) bytes)"))
                }
                position = count
                return nil
            }
            // A record bitcoind is writing into the zeros it reserved: its header and size are
            // there, the rest (its end) still zeros as stored. Not a record yet: a later look
            // reads it from here.
            let tail = kind.unwrittenTailBytes
            if isNewest, end - position >= 8 + tail, try file.bytes(at: end - tail, count: tail).allSatisfy({ $0 == 0 }),
               try allZero(from: end) {
                incompleteTail = position
                position = count
                return nil
            }
            let location = RecordLocation(file: number, offset: position, size: size)
            position = end
            lastRecordEnd = end
            judge(size: size)
            return location
        }
        if position < count, try !allZero(from: position) {
            if isNewest {
                incompleteTail = position  // a record header still being written
            } else {
                problems.append(RecordProblem(path: file.path, offset: position, message: "\(count - position) stray bytes at the end of the file"))
            }
        }
        position = count
        return nil
    }

    /// In the file being written, whether the bytes at `offset` that are not a record are the
    /// start of one bitcoind is writing into its reserved zeros: from within the 8-byte record
    /// header on, the rest of the file is zeros as stored. Then they are the incomplete tail.
    private mutating func isBeingWritten(at offset: Int) throws(BlockFileError) -> Bool {
        guard isNewest else { return false }
        let head = try file.bytes(at: offset, count: min(8, file.count - offset))
        guard let zero = head.firstIndex(of: 0), try allZero(from: offset + zero) else { return false }
        incompleteTail = offset
        position = file.count
        return true
    }

    /// Calls `body` with the file's bytes from `offset` on, a window at a time, until it returns
    /// how far into a window it stopped (nil: go on) or the file ends; returns where it stopped.
    private func walk(from offset: Int, _ body: (UnsafeRawBufferPointer) -> Int?) throws(BlockFileError) -> Int {
        var at = offset
        while at < file.count {
            let chunk = try file.bytes(at: at, count: min(FileWindow.capacity, file.count - at))
            guard !chunk.isEmpty else { throw shrank(at: at) }
            if let stop = body(chunk) { return at + stop }
            at += chunk.count
        }
        return file.count
    }

    /// Whether the file's bytes from `offset` to its end are all zeros as stored.
    public func allZero(from offset: Int) throws(BlockFileError) -> Bool {
        try walk(from: offset) { chunk in chunk.firstIndex { $0 != 0 } } == file.count
    }

    private mutating func skipZeros() throws(BlockFileError) {
        // Eight bytes at a time, then byte by byte to the first non-zero.
        position = try walk(from: position) { chunk in
            var i = 0
            while i + 8 <= chunk.count && chunk.loadUnaligned(fromByteOffset: i, as: UInt64.self) == 0 { i += 8 }
            while i < chunk.count && chunk[i] == 0 { i += 1 }
            return i < chunk.count ? i : nil
        }
    }

    /// Moves to the next offset from `start` whose decoded bytes are this network's magic (and
    /// which has 8 bytes after it), or to the end.
    private mutating func resync(from start: Int) throws(BlockFileError) {
        let count = file.count
        var p = start
        while p + 8 <= count {
            let chunk = try file.bytes(at: p, count: min(FileWindow.capacity, count - p))
            guard chunk.count >= 8 else { throw shrank(at: p) }
            var i = 0
            while i + 8 <= chunk.count {
                let decoded = decode(chunk.loadUnaligned(fromByteOffset: i, as: UInt64.self), at: p + i)
                if UInt32(truncatingIfNeeded: decoded) == magic {
                    position = p + i
                    return
                }
                i += 1
            }
            p += i  // the last 7 bytes start the next window
        }
        position = count
    }

    /// Copies (and de-obfuscates) `length` bytes (at most `FileWindow.capacity`) at `offset` into
    /// `buffer`.
    public func read(offset: Int, length: Int, into buffer: inout [UInt8]) throws(BlockFileError) {
        let bytes = try file.bytes(at: offset, count: length)
        guard bytes.count == length else { throw shrank(at: offset + bytes.count) }
        xorKey.copyApplying(from: bytes, fileOffset: offset, into: &buffer)
    }
}
