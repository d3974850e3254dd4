import BitcoinWire
import Foundation

extension UndoFormat {
    /// `ScriptCompression` decoding, Core's `DecompressScript` (P2PK keys decompressed with
    /// libcrypto's secp256k1; scripts above the size limit become `OP_RETURN`, as in Core).
    public static func readCompressedScript(from cursor: inout ByteCursor) throws(WireError) -> [UInt8] {
        let start = cursor.position
        let size = try cursor.readVarInt()
        switch size {
        case 0:
            return Script.p2pkh(Array(try cursor.readBytes(20)))
        case 1:
            return Script.p2sh(Array(try cursor.readBytes(20)))
        case 2, 3:
            return Script.p2pk([UInt8(size)] + Array(try cursor.readBytes(32)))
        case 4, 5:
            let x = Array(try cursor.readBytes(32))
            guard let key = PublicKey.decompress(x: x, oddY: size == 5) else {
                throw WireError(.invalid("compressed public key is not on secp256k1"), at: start)
            }
            return Script.p2pk(key)
        default:
            let length = size - specialScriptCount
            if length > UInt64(cursor.remaining) {
                throw WireError(.truncated(needed: Int(clamping: length), available: cursor.remaining), at: start)
            }
            let bytes = Array(try cursor.readBytes(Int(length)))
            return length > UInt64(Limits.maxScriptSize) ? [Opcode.opReturn] : bytes
        }
    }

    /// Reads past one spent coin without decoding its script; returns its amount (at most 21
    /// million BTC, else an error). For checking a record against a block without allocating.
    public static func skipCoin(from cursor: inout ByteCursor) throws(WireError) -> Int64 {
        let (_, amount) = try readCoinHead(from: &cursor)
        try skipCompressedScript(from: &cursor)
        return amount
    }

    /// Reads past one spent coin, neither its amount nor its script decoded: for records already
    /// known to be the block's, where only the coins of later transactions are wanted.
    @inline(__always)
    public static func passCoin(from cursor: inout ByteCursor) throws(WireError) {
        let code = try cursor.readVarInt()
        if code >> 1 > 0 { _ = try cursor.readVarInt() }  // the old format's transaction version
        _ = try cursor.readVarInt()                       // the compressed amount
        try skipCompressedScript(from: &cursor)
    }

    /// Reads past a compressed script (`ScriptCompression`): its size code, then 20 bytes
    /// (P2PKH, P2SH), 32 (P2PK, the key's x) or the raw script.
    @inline(__always)
    static func skipCompressedScript(from cursor: inout ByteCursor) throws(WireError) {
        let scriptStart = cursor.position
        let size = try cursor.readVarInt()
        let length: UInt64 = switch size {
        case 0, 1: 20
        case 2, 3, 4, 5: 32
        default: size - specialScriptCount
        }
        guard length <= UInt64(cursor.remaining) else {
            throw WireError(.truncated(needed: Int(clamping: length), available: cursor.remaining), at: scriptStart)
        }
        try cursor.skip(Int(length))
    }

    /// One spent coin as `TxInUndoFormatter` reads it.
    public static func readCoin(from cursor: inout ByteCursor) throws(WireError) -> SpentCoin {
        let (code, amount) = try readCoinHead(from: &cursor)
        let script = try readCompressedScript(from: &cursor)
        return SpentCoin(output: TxOut(value: amount, scriptPubKey: script), height: Int(code >> 1), isCoinbase: code & 1 == 1)
    }

    /// A spent coin up to its script: the height-and-coinbase code (the old format's transaction
    /// version read past) and the amount, refused above 21 million BTC.
    private static func readCoinHead(from cursor: inout ByteCursor) throws(WireError) -> (code: UInt64, amount: Int64) {
        let start = cursor.position
        let code = try cursor.readVarInt()
        if code >> 1 > 0 { _ = try cursor.readVarInt() }  // the old format's transaction version
        let amount = decompressAmount(try cursor.readVarInt())
        guard amount <= UInt64(Money.maxMoney) else { throw WireError(.invalid("spent amount \(amount) above 21 million BTC"), at: start) }
        return (code, Int64(amount))
    }

    /// A whole `CBlockUndo`: the coins each non-coinbase transaction spent, in input order.
    public static func decodeBlockUndo(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> [[SpentCoin]] {
        var cursor = ByteCursor(bytes)
        // A spent coin takes at least 3 bytes (height code, amount, script size).
        let transactions = try cursor.readCount(of: "transaction undo", minItemSize: 1)
        var result: [[SpentCoin]] = []
        result.reserveCapacity(transactions)
        for _ in 0..<transactions {
            let coins = try cursor.readCount(of: "spent coin", minItemSize: 3)
            var spent: [SpentCoin] = []
            spent.reserveCapacity(coins)
            for _ in 0..<coins { spent.append(try readCoin(from: &cursor)) }
            result.append(spent)
        }
        if !cursor.isAtEnd { throw WireError(.invalid("\(cursor.remaining) trailing bytes after the undo data"), at: cursor.position) }
        return result
    }
}

/// Finds the undo record of a block in `rev*.dat`: the file with the block's number, the record
/// whose checksum is dSHA256(previous block hash ‖ undo data).
public final class UndoFiles: @unchecked Sendable {
    public let directory: BlocksDirectory
    private let lock = NSLock()
    private var records: [Int: (file: MappedFile, entries: [(offset: Int, size: Int, transactions: Int)])] = [:]
    /// Rev files kept mapped at most; the least recently used is released beyond that, so resident
    /// memory does not grow with the number of rev files an import touches.
    public static let maxMappedFiles = 8
    private var lastUse: [Int: Int] = [:]
    /// Rev files whose last record was cut short (only the newest can be: bitcoind writing it).
    private var incompleteTails = Set<Int>()
    private var clock = 0
    private var hasIndexedAny = false

    /// Whether any undo record has been sought yet (a reader that needs undo data).
    public var isInUse: Bool {
        lock.lock()
        defer { lock.unlock() }
        return hasIndexedAny
    }

    public init(directory: BlocksDirectory) { self.directory = directory }

    /// Where a record's undo data starts (after the magic and size) and where its checksum ends.
    private static func span(of entry: (offset: Int, size: Int, transactions: Int)) -> (data: Int, end: Int) {
        let data = entry.offset + BlockFileFormat.recordHeaderSize
        return (data, data + entry.size + RecordScanner.Kind.undo.trailer)
    }


    /// Linux maps up to this much around a faulting page of a file mapping (`fault_around_bytes`,
    /// 64 KiB by default): releasing a record's pages releases this window around them too.
    static let faultAroundBytes = 64 * 1024

    /// Spans of rev files read and copied, not yet released. Records are read in about file
    /// order, so the span of those read stays about what was read; one not yet read inside it is
    /// faulted in again.
    private var doneSpans = DoneSpans()

    /// Records that `range` of rev file `file` was read; releases the span read so far once it
    /// is large enough.
    private func done(_ file: Int, _ mapped: MappedFile, _ range: Range<Int>) {
        lock.lock()
        let due = doneSpans.add(range, ofFile: file)
        lock.unlock()
        if let due { mapped.releasePages(due) }
    }

    /// Whether rev file `number` is being written: it ends in a record cut short (bitcoind
    /// appends to the rev file of each block it connects, not only to the newest).
    public func isBeingWritten(_ number: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return incompleteTails.contains(number)
    }

    /// Records rev file `number` holds (0 where it has none or is absent).
    public func recordCount(_ number: Int) throws(BlockFileError) -> Int {
        try index(number)?.1.count ?? 0
    }

    /// Whether `rev%05d.dat` exists for block file `number`.
    public func hasUndoFile(_ number: Int) -> Bool {
        FileManager.default.fileExists(atPath: directory.undoFilePath(number))
    }

    /// The first undo record of rev file `file` that belongs to a block with parent
    /// `previousBlockHash` and `transactionCount` transactions and that `accept` takes (given the
    /// record's undo data, it returns a value or nil to look further); nil when none does
    /// (the file absent, or the block never connected).
    ///
    /// The checksum only ties a record to the block's *parent*: a sibling that was connected and
    /// then lost a reorganisation has the same parent, so the caller must also check the record
    /// fits the block (what a transaction is, is not this reader's business). A record that
    /// does not decode is damage: `accept`'s `WireError` comes back naming file and offset.
    ///
    /// `expectedPosition` is where the record should be among the file's records (Core appends
    /// them in the order it connects blocks, so a best-chain block's rank by height among its
    /// file's best-chain blocks, give or take the stale blocks connected in between): the search
    /// starts there and widens both ways, so a record is usually found at the first checksum,
    /// and every record is looked at once before the search gives up.
    public func findRecord<T>(blockFile file: Int, previousBlockHash: BlockHash, transactionCount: Int, expectedPosition: Int,
                              accept: (UnsafeRawBufferPointer) throws(WireError) -> T?) throws(BlockFileError) -> T? {
        guard let (mapped, entries) = try index(file), !entries.isEmpty else { return nil }
        var buffer: [UInt8] = []
        let count = entries.count
        let start = max(0, min(count - 1, expectedPosition))
        for step in 0..<count {
            // 0, +1, -1, +2, -2, ... around the start: n consecutive offsets, every record once.
            let offset = step % 2 == 1 ? (step + 1) / 2 : -(step / 2)
            let position = ((start + offset) % count + count) % count
            let entry = entries[position]
            guard entry.transactions == transactionCount - 1 else { continue }
            let span = Self.span(of: entry)
            let stored = UnsafeRawBufferPointer(rebasing: mapped.bytes[span.data..<span.end])
            /// The record's checksum checked, then its undo data handed to `accept`.
            func examine(_ raw: UnsafeRawBufferPointer) -> Result<T?, WireError>? {
                var previous = previousBlockHash
                let checksum = withUnsafeBytes(of: &previous) { Hashes.dsha256(parts: $0, UnsafeRawBufferPointer(rebasing: raw[0..<entry.size])) }
                guard checksum.withUnsafeBytes({ $0.elementsEqual(raw[entry.size...]) }) else { return nil }
                do throws(WireError) {
                    return .success(try accept(UnsafeRawBufferPointer(rebasing: raw[0..<entry.size])))
                } catch {
                    return .failure(error)
                }
            }
            let outcome: Result<T?, WireError>?
            if directory.xorKey.isIdentity {
                // Read in place where there is nothing to undo: a copy of every record sought is
                // work (a few per cent of a names import) that buys nothing then.
                outcome = examine(stored)
            } else {
                directory.xorKey.copyApplying(from: stored, fileOffset: span.data, into: &buffer)
                outcome = buffer.withUnsafeBytes { examine($0) }
            }
            if mapped.wasCutShort { throw BlockFileError(path: mapped.path, offset: entry.offset, "the file changed while it was read (it is shorter now)") }
            // Done with the record's pages: they can leave resident memory (rev files stay
            // mapped), and so can the neighbours the kernel's fault-around mapped in with them.
            let window = Self.faultAroundBytes
            done(file, mapped, (entry.offset / window * window)..<((span.end + window - 1) / window * window))
            guard let accepted = outcome else { continue }
            switch accepted {
            case let .success(value?):
                return value
            case .success(nil):
                continue
            case let .failure(error):
                throw BlockFileError(path: mapped.path, offset: span.data + error.offset, "undo record: \(error)")
            }
        }
        return nil
    }

    /// Records of rev file `number`: offset, size and the transaction count their data starts with.
    private func index(_ number: Int) throws(BlockFileError) -> (MappedFile, [(offset: Int, size: Int, transactions: Int)])? {
        lock.lock()
        defer { lock.unlock() }
        clock += 1
        lastUse[number] = clock
        if let cached = records[number] { return (cached.file, cached.entries) }
        while records.count >= Self.maxMappedFiles, let oldest = records.keys.min(by: { lastUse[$0, default: 0] < lastUse[$1, default: 0] }) {
            records[oldest] = nil  // unmapped once no caller still holds it
        }
        let path = directory.undoFilePath(number)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        // Indexed through reads of each record's first bytes (undo records of blocks with many
        // transactions are large: a mapping would fault their pages in); read through a mapping
        // afterwards, each record when it is sought.
        let window = try FileWindow(path: path)
        // Any rev file may be being appended to (bitcoind writes a block's undo record into the
        // rev file of the block's blk file when it connects it): a record cut short at its end
        // is "not yet written", as in the newest blk file.
        var scanner = RecordScanner(file: window, number: number, magic: directory.network.magicValue, xorKey: directory.xorKey,
                                    isNewest: true, kind: .undo)
        var entries: [(offset: Int, size: Int, transactions: Int)] = []
        var head: [UInt8] = []
        while let record = try scanner.next() {
            // The transaction count the undo data starts with, to match records to blocks cheaply.
            try scanner.read(offset: record.payloadOffset, length: min(record.size, 9), into: &head)
            let count = head.withUnsafeBytes { raw -> Int in
                var cursor = ByteCursor(raw)
                return (try? cursor.readCompactSize()).map(Int.init) ?? -1
            }
            entries.append((record.offset, record.size, count))
        }
        if let problem = scanner.problems.first {
            throw BlockFileError(path: path, offset: problem.offset, "not an undo record: \(problem.message)")
        }
        let mapped = try MappedFile(path: path)
        // Only the records sought are needed, each when it is.
        mapped.adviseRandom()
        records[number] = (mapped, entries)
        hasIndexedAny = true
        if scanner.incompleteTail != nil { incompleteTails.insert(number) }
        // The last record may be one bitcoind is still writing, its checksum written only in
        // part: it ends in a zero as stored and nothing but zeros follow it.
        if let last = entries.last {
            let end = Self.span(of: last).end
            let tail = try window.bytes(at: end - 1, count: 1)
            // Reserved zeros must follow (a record ending with the file was written whole).
            if tail.first == 0, end < window.count, try scanner.allZero(from: end) {
                lastMayBeUnfinished.insert(number)
            } else {
                lastMayBeUnfinished.remove(number)
            }
        }
        return (mapped, entries)
    }

    /// Rev files whose last record may still be being written (see `index`).
    private var lastMayBeUnfinished = Set<Int>()

    /// Records of rev file `number` bitcoind has certainly finished: a last record that may be
    /// still being written (its checksum ending in a zero, only zeros after it) is not counted.
    /// A record that matched its block was finished, whatever it ends in.
    public func finishedRecordCount(_ number: Int) throws(BlockFileError) -> Int {
        let count = try recordCount(number)
        lock.lock()
        defer { lock.unlock() }
        return lastMayBeUnfinished.contains(number) ? max(0, count - 1) : count
    }
}
