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

/// Walks the records of one `blk*.dat` (or `rev*.dat`) mapping: skips pre-allocation zeros,
/// checks each record's magic and size, and resynchronises on the next magic after garbage.
public struct RecordScanner {
    /// Block records hold a block (at least a header and a transaction count); undo records hold
    /// a `CBlockUndo` (one byte at least) followed by a 32-byte checksum.
    public enum Kind: Sendable {
        case block, undo
        public var trailer: Int { self == .undo ? 32 : 0 }
        var minimumSize: Int { self == .undo ? 1 : BlockHeader.size + 1 }
        var name: String { self == .undo ? "undo data" : "a block" }
    }

    public let file: MappedFile
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
    public init(file: MappedFile, number: Int, magic: UInt32, xorKey: XorKey, isNewest: Bool, kind: Kind = .block, startingAt offset: Int = 0) {
        self.file = file
        self.number = number
        self.magic = magic
        self.xorKey = xorKey
        self.isNewest = isNewest
        self.kind = kind
        position = min(max(0, offset), file.bytes.count)
        lastRecordEnd = position
    }

    /// Where a later scan of this file, grown by appends, should resume: the start of a record
    /// cut short, or the end of the last complete one (the zeros after it may fill in).
    public var resumeOffset: Int { incompleteTail ?? lastRecordEnd }
    /// The end of the last complete record returned (or the starting offset).
    public private(set) var lastRecordEnd = 0

    /// The 8-byte word at `offset` with the obfuscation removed.
    @inline(__always) func word(at offset: Int) -> UInt64 {
        let raw = file.bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        guard !xorKey.isIdentity else { return raw }
        return raw ^ xorKey.rotatedWord(fileOffset: offset)
    }

    /// The next record, or nil at the end of the file.
    public mutating func next() -> RecordLocation? {
        let bytes = file.bytes
        let count = bytes.count
        while position + 8 <= count {
            let header = word(at: position)
            let recordMagic = UInt32(truncatingIfNeeded: header)
            if recordMagic != magic {
                // Pre-allocated space is raw zeros (Core never obfuscates it): skip the whole run.
                if bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self) == 0 {
                    skipZeros()
                    continue
                }
                let start = position
                if foreignNetwork == nil { foreignNetwork = Network.fromMagic(recordMagic) }
                resync(from: position + 1)
                let kind = Network.fromMagic(recordMagic).map { "magic of \($0.rawValue), not of this network" } ?? "bytes that are not a record"
                problems.append(RecordProblem(path: file.path, offset: start,
                                              message: "\(kind) (\(position - start) bytes skipped)"))
                continue
            }
            let size = Int(UInt32(truncatingIfNeeded: header >> 32))
            let end = position + 8 + size + kind.trailer
            if size > Limits.maxBlockSerializedSize || size < kind.minimumSize {
                let start = position
                problems.append(RecordProblem(path: file.path, offset: start,
                                              message: "record size \(size) is impossible for \(kind.name) (\(kind.minimumSize) bytes to 4,000,000)"))
                resync(from: position + 1)
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
            let location = RecordLocation(file: number, offset: position, size: size)
            position = end
            lastRecordEnd = end
            return location
        }
        if position < count && !allZero(from: position) {
            if isNewest {
                incompleteTail = position  // a record header still being written
            } else {
                problems.append(RecordProblem(path: file.path, offset: position, message: "\(count - position) stray bytes at the end of the file"))
            }
        }
        position = count
        return nil
    }

    private func allZero(from offset: Int) -> Bool {
        file.bytes[offset...].allSatisfy { $0 == 0 }
    }

    private mutating func skipZeros() {
        let bytes = file.bytes
        let count = bytes.count
        // Eight bytes at a time, then byte by byte to the first non-zero.
        while position + 8 <= count && bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self) == 0 { position += 8 }
        while position < count && bytes[position] == 0 { position += 1 }
    }

    /// Moves to the next offset from `start` whose decoded bytes are this network's magic.
    private mutating func resync(from start: Int) {
        var p = start
        let count = file.bytes.count
        while p + 8 <= count {
            if UInt32(truncatingIfNeeded: word(at: p)) == magic { break }
            p += 1
        }
        position = p + 8 <= count ? p : count
    }

    /// Copies (and de-obfuscates) `length` bytes at `offset` into `buffer`; a view of the mapping
    /// itself is used instead wherever the file is not obfuscated (see `withPayload`).
    public func read(offset: Int, length: Int, into buffer: inout [UInt8]) {
        xorKey.copyApplying(from: UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + length)]), fileOffset: offset, into: &buffer)
    }
}
