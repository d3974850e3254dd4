import BitcoinWire
import BlockFiles
import CLZ4
import ConsensusHashing
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a checkpoint says about itself (the skippable frame), enough to pick one without
/// decompressing it.
public struct CheckpointHeader: Equatable, Sendable {
    public static let currentFormat = 1

    public var format: Int
    public var machine: String
    public var machineVersion: Int
    public var network: String
    public var firstBlock: Int
    public var height: Int
    public var blockHash: BlockHash
    public var consensusHash: ConsensusDigest
    /// SHA-256 of the uncompressed payload (the state database image), hex.
    public var payloadSHA256: String
    public var payloadBytes: Int

    public init(format: Int = CheckpointHeader.currentFormat, machine: String, machineVersion: Int, network: String, firstBlock: Int,
                height: Int, blockHash: BlockHash, consensusHash: ConsensusDigest, payloadSHA256: String, payloadBytes: Int) {
        self.format = format
        self.machine = machine
        self.machineVersion = machineVersion
        self.network = network
        self.firstBlock = firstBlock
        self.height = height
        self.blockHash = blockHash
        self.consensusHash = consensusHash
        self.payloadSHA256 = payloadSHA256
        self.payloadBytes = payloadBytes
    }

    var json: [UInt8] {
        let fields: [(String, String)] = [
            ("format", String(format)), ("machine", quote(machine)), ("machine_version", String(machineVersion)),
            ("network", quote(network)), ("first_block", String(firstBlock)), ("height", String(height)),
            ("block", quote(blockHash.displayHex)), ("consensus_hash", quote(consensusHash.hex)),
            ("payload_sha256", quote(payloadSHA256)), ("payload_bytes", String(payloadBytes)),
        ]
        return Array(("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}").utf8)
    }

    private func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    init(json bytes: [UInt8]) throws(CheckpointError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw CheckpointError.damagedHeader("header is not a JSON object")
        }
        func int(_ key: String) throws(CheckpointError) -> Int {
            guard let v = object[key] as? Int else { throw CheckpointError.damagedHeader("header field '\(key)' missing or not a number") }
            return v
        }
        func string(_ key: String) throws(CheckpointError) -> String {
            guard let v = object[key] as? String else { throw CheckpointError.damagedHeader("header field '\(key)' missing or not a string") }
            return v
        }
        format = try int("format")
        guard format <= Self.currentFormat else {
            throw CheckpointError.newerFormat(found: format, supported: Self.currentFormat)
        }
        machine = try string("machine")
        machineVersion = try int("machine_version")
        network = try string("network")
        firstBlock = try int("first_block")
        height = try int("height")
        guard let blockHash = BlockHash(displayHex: try string("block")) else {
            throw CheckpointError.damagedHeader("header field 'block' is not a block hash (64 hex digits)")
        }
        guard let consensusHash = ConsensusDigest(hex: try string("consensus_hash")) else {
            throw CheckpointError.damagedHeader("header field 'consensus_hash' is not a consensus hash (32 hex digits)")
        }
        self.blockHash = blockHash
        self.consensusHash = consensusHash
        payloadSHA256 = try string("payload_sha256")
        payloadBytes = try int("payload_bytes")
    }
}

/// Why a checkpoint cannot be read or written. A checkpoint with a problem is skipped like any
/// damaged one (reading) or leaves earlier checkpoints intact (writing).
public enum CheckpointError: Error, CustomStringConvertible, Sendable {
    /// The file does not start with a checkpoint's header frame.
    case notACheckpoint(String)
    /// The file ends before its header or payload does.
    case truncated(String)
    /// The header frame is damaged or its JSON malformed.
    case damagedHeader(String)
    /// Written by a newer program, in a format version this one does not know.
    case newerFormat(found: Int, supported: Int)
    /// The compressed payload is damaged or disagrees with its header (size, SHA-256).
    case damagedPayload(String)
    /// LZ4 failed (compressing, or creating a decompression context).
    case compressionFailed(String)
    /// The file system refused: a file or directory that cannot be created, listed, read,
    /// written or renamed (path and reason in the message).
    case fileSystem(String)

    public var description: String {
        switch self {
        case let .notACheckpoint(message), let .truncated(message), let .damagedHeader(message), let .damagedPayload(message),
             let .compressionFailed(message), let .fileSystem(message):
            message
        case let .newerFormat(found, supported):
            "format version \(found) is newer than this program understands (\(supported))"
        }
    }
}

/// The checkpoint file format:
///
///     LZ4 skippable frame (magic 0x184D2A5A): "VCCK" ‖ LE32 n ‖ header JSON (n bytes) ‖ SHA-256(JSON)
///     LZ4 frames (content checksum on, content size set): the payload, in one frame or, when
///     streamed, in frames of `frameBytes` each (frames that stand alone compress in parallel)
///
/// The whole file is a valid LZ4 stream: `lz4 -t` verifies it, `lz4 -d` unpacks the payload.
public enum CheckpointFile {
    public static let skippableMagic: UInt32 = 0x184D_2A5A
    static let tag = Array("VCCK".utf8)
    /// Largest header we accept (a damaged length field must not make us allocate gigabytes).
    static let maxHeaderBytes = 64 * 1024
    /// The longest header frame: magic, size, tag, JSON length, the JSON at most, its SHA-256.
    static let headerFrameLimit = 12 + 4 + maxHeaderBytes + 32
    /// Largest payload we accept (a damaged size must not make us allocate absurd amounts).
    public static let maxPayloadBytes = 64 << 30

    /// The skippable frame holding the header: magic, size, tag, JSON length, JSON, its SHA-256.
    static func headerFrame(for header: CheckpointHeader) -> [UInt8] {
        let json = header.json
        var out = [UInt8]()
        let frameData = tag.count + 4 + json.count + 32
        withUnsafeBytes(of: skippableMagic.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(frameData).littleEndian) { out.append(contentsOf: $0) }
        out += tag
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { out.append(contentsOf: $0) }
        out += json
        out += Hashes.sha256(json).bytes
        return out
    }

    /// The payload frame's settings: content checksum on, content size set, 4 MiB blocks, fast.
    static func payloadPreferences(payloadBytes: Int) -> LZ4F_preferences_t {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.blockSizeID = LZ4F_max4MB
        preferences.frameInfo.contentSize = UInt64(payloadBytes)
        preferences.compressionLevel = 1
        return preferences
    }

    /// Encodes header and compressed payload into the bytes of a checkpoint file.
    public static func encode(header: CheckpointHeader, payload: UnsafeRawBufferPointer) throws(CheckpointError) -> [UInt8] {
        var out = headerFrame(for: header)
        var preferences = payloadPreferences(payloadBytes: payload.count)
        let bound = LZ4F_compressFrameBound(payload.count, &preferences)
        let start = out.count
        out += [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { raw in
            LZ4F_compressFrame(raw.baseAddress! + start, bound, payload.baseAddress, payload.count, &preferences)
        }
        if LZ4F_isError(written) != 0 { throw CheckpointError.compressionFailed("LZ4 compression failed: \(String(cString: LZ4F_getErrorName(written)))") }
        out.removeLast(bound - written)
        return out
    }

    /// Reads just the header (and checks its own checksum).
    public static func readHeader(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) -> (header: CheckpointHeader, frameEnd: Int) {
        guard bytes.count >= 12 else { throw CheckpointError.truncated("truncated: \(bytes.count) bytes, not even a header") }
        let magic = UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self))
        guard magic == skippableMagic else { throw CheckpointError.notACheckpoint("not a virtualchain checkpoint (first frame magic \(String(magic, radix: 16)))") }
        let frameSize = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard frameSize <= maxHeaderBytes, 8 + frameSize <= bytes.count, frameSize >= tag.count + 4 + 32 else {
            throw CheckpointError.damagedHeader("header frame size \(frameSize) impossible for a \(bytes.count)-byte file")
        }
        guard Array(bytes[8..<12]) == tag else { throw CheckpointError.damagedHeader("header tag damaged") }
        let jsonLength = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        guard jsonLength == frameSize - tag.count - 4 - 32 else { throw CheckpointError.damagedHeader("header length field damaged") }
        let json = Array(bytes[16..<(16 + jsonLength)])
        let checksum = Array(bytes[(16 + jsonLength)..<(16 + jsonLength + 32)])
        guard Hashes.sha256(json).bytes == checksum else { throw CheckpointError.damagedHeader("header checksum mismatch (damaged header)") }
        return (try CheckpointHeader(json: json), 8 + frameSize)
    }

    /// Decompresses and verifies the payload (LZ4 content checksum, size, SHA-256) of a
    /// checkpoint held in memory; returns it whole.
    public static func readPayload(_ bytes: UnsafeRawBufferPointer, header: CheckpointHeader, frameEnd: Int) throws(CheckpointError) -> [UInt8] {
        var out: [UInt8] = []
        try readPayload(bytes, header: header, frameEnd: frameEnd) { (piece: UnsafeRawBufferPointer) throws(CheckpointError) in
            if out.isEmpty { out.reserveCapacity(header.payloadBytes) }
            out.append(contentsOf: piece)
        }
        return out
    }

    /// ``readPayload(_:header:frameEnd:)`` handing the payload to `body` a piece at a time.
    public static func readPayload(_ bytes: UnsafeRawBufferPointer, header: CheckpointHeader, frameEnd: Int,
                                   into body: (UnsafeRawBufferPointer) throws(CheckpointError) -> Void) throws(CheckpointError) {
        var given = false
        try decodePayload(header: header, compressedBytes: bytes.count - frameEnd, nextInput: { () throws(CheckpointError) in
            defer { given = true }
            return given ? nil : UnsafeRawBufferPointer(rebasing: bytes[frameEnd...])
        }, into: body)
    }

    /// Decompresses and verifies the payload of the checkpoint file open as `descriptor` (its
    /// header frame ends at `frameEnd`, the file has `fileBytes`), reading it a chunk at a time
    /// and handing the payload to `body` a piece at a time: memory stays at a chunk and a piece
    /// whatever the state's size, and each piece is hashed while it is in the cache. Pieces
    /// handed before a failure are unverified: a `body` that keeps them must drop them then.
    public static func readPayload(descriptor: Int32, path: String, fileBytes: Int, header: CheckpointHeader, frameEnd: Int,
                                   into body: (UnsafeRawBufferPointer) throws(CheckpointError) -> Void) throws(CheckpointError) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: readChunkBytes, alignment: 64)
        defer { chunk.deallocate() }
        var offset = frameEnd
        try decodePayload(header: header, compressedBytes: fileBytes - frameEnd, nextInput: { () throws(CheckpointError) in
            guard offset < fileBytes else { return nil }
            let wanted = min(chunk.count, fileBytes - offset)
            let filled = try fileSystem { () throws(BlockFileError) in
                try ReadOnlyFile.read(descriptor, path: path, into: chunk.baseAddress!, count: wanted, at: offset)
            }
            if filled < wanted { throw CheckpointError.truncated("truncated: \(path) ended at \(offset + filled) bytes while being read") }
            offset += filled
            return UnsafeRawBufferPointer(rebasing: chunk[0..<filled])
        }, into: body)
    }

    /// Compressed bytes read from a checkpoint file at a time.
    static let readChunkBytes = 1 << 20
    /// Payload bytes decoded, hashed and handed on at a time: one whole LZ4 block of ours, which
    /// LZ4 then decodes straight into it (a smaller piece costs it a copy through its own buffer).
    static let pieceBytes = 4 << 20

    /// The decoder under the `readPayload` variants: LZ4 frames (one, or several in a row as a
    /// streamed checkpoint's) from `nextInput` until it returns nil, then the checks of size and
    /// SHA-256 against the header.
    static func decodePayload(header: CheckpointHeader, compressedBytes: Int,
                              nextInput: () throws(CheckpointError) -> UnsafeRawBufferPointer?,
                              into body: (UnsafeRawBufferPointer) throws(CheckpointError) -> Void) throws(CheckpointError) {
        // LZ4 expands at most ~255:1, so a claimed size beyond that of the compressed bytes is damage
        // (checked before allocating anything that large).
        guard header.payloadBytes >= 0 && header.payloadBytes <= maxPayloadBytes && header.payloadBytes <= compressedBytes * 256 + 65_536 else {
            throw CheckpointError.damagedPayload("payload size \(header.payloadBytes) is impossible for \(compressedBytes) compressed bytes")
        }
        var context: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, let context else {
            throw CheckpointError.compressionFailed("cannot create an LZ4 decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(pieceBytes, header.payloadBytes)), alignment: 64)
        defer { piece.deallocate() }
        var hasher = SHA256Hasher()
        var consumed = 0      // compressed bytes, for error offsets
        var produced = 0      // payload bytes handed on
        var filled = 0        // payload bytes waiting in `piece`
        var atFrameEnd = false
        func handOn() throws(CheckpointError) {
            guard filled > 0 else { return }
            let ready = UnsafeRawBufferPointer(rebasing: piece[0..<filled])
            hasher.update(ready)
            try body(ready)
            produced += filled
            filled = 0
        }
        while let input = try nextInput() {
            var used = 0
            while used < input.count {
                if filled == piece.count { try handOn() }
                // Never more room than the header's size leaves: a payload larger than it says
                // then stalls the decoder, which is reported.
                var destinationSize = min(piece.count - filled, header.payloadBytes - produced - filled)
                var sourceSize = input.count - used
                let hint = LZ4F_decompress(context, piece.baseAddress! + filled, &destinationSize, input.baseAddress! + used, &sourceSize, nil)
                if LZ4F_isError(hint) != 0 {
                    throw CheckpointError.damagedPayload("LZ4 frame damaged at payload offset \(consumed + used): \(String(cString: LZ4F_getErrorName(hint)))")
                }
                used += sourceSize
                filled += destinationSize
                atFrameEnd = hint == 0
                if !atFrameEnd && sourceSize == 0 && destinationSize == 0 {
                    throw CheckpointError.damagedPayload("LZ4 frames larger than the header says")
                }
            }
            consumed += used
        }
        try handOn()
        guard atFrameEnd else { throw CheckpointError.truncated("truncated: the LZ4 frame ends early") }
        guard produced == header.payloadBytes else { throw CheckpointError.damagedPayload("payload is \(produced) bytes, header says \(header.payloadBytes)") }
        guard Hex.encode(hasher.finalize().bytes) == header.payloadSHA256 else { throw CheckpointError.damagedPayload("payload SHA-256 mismatch") }
    }

    /// Writes `bytes` to `path` atomically (see `AtomicFile`): temporary file, fsync, rename,
    /// fsync of the directory. A failure leaves any existing file at `path` as it was and removes
    /// the temporary file.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        try writeAtomically(bytes, to: path, faults: .none)
    }

    /// As ``writeAtomically(_:to:)``, with faults a test injects (a full disk; a pause half-way).
    package static func writeAtomically(_ bytes: [UInt8], to path: String, faults: WriteFaults) throws(CheckpointError) {
        try fileSystem { () throws(BlockFileError) in
            let file = try AtomicFile(path: path, faults: faults)
            let half = bytes.count / 2
            try file.write(Array(bytes[0..<half]))
            if let pause = faults.pauseMidwayMilliseconds { usleep(UInt32(pause) * 1000) }
            try file.write(Array(bytes[half...]))
            try file.commit()
        }
    }

    /// Runs file work, its failures reported as checkpoint file-system errors (same words).
    static func fileSystem<T>(_ body: () throws(BlockFileError) -> T) throws(CheckpointError) -> T {
        do { return try body() } catch { throw CheckpointError.fileSystem(error.description) }
    }
}
