import CSHA256
/// A zero-copy view of one serialized transaction inside borrowed bytes (a mapped block file).
///
/// Parsing walks the transaction once, checking every length against the bytes that remain, and
/// remembers only offsets. Hashes are computed on demand: a scan that only filters never hashes.
public struct TransactionView {
    /// The whole transaction as serialized in the block (with witness data if any).
    public let bytes: UnsafeRawBufferPointer
    public let hasWitness: Bool
    public let inputCount: Int
    public let outputCount: Int
    /// Sum of the output values, in satoshis; `parse` guarantees it and every value lie within
    /// `Money`'s range.
    public let outputValue: Int64
    /// Offset of the input count (after the segwit marker and flag, if present).
    @usableFromInline let inputsStart: Int
    /// Offset of the output count.
    @usableFromInline let outputsStart: Int
    /// End of the outputs: start of the witness data, or of the lock time.
    @usableFromInline let outputsEnd: Int
    /// Range of the data the transaction carries (docs/virtualchain.md, section 2): the push of its
    /// last output that starts with `OP_RETURN`, when that output is well formed; nil otherwise.
    public let nullDataRange: Range<Int>?

    public var version: Int32 { Int32(littleEndian: bytes.loadUnaligned(as: Int32.self)) }
    public var lockTime: UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self)) }

    /// The data the transaction carries (see `nullDataRange`), a view.
    public var nullData: UnsafeRawBufferPointer? {
        nullDataRange.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
    }

    /// Parses one transaction at `cursor` (legacy or BIP144 form), advancing past it.
    @inlinable
    public static func parse(from cursor: inout ByteCursor) throws(WireError) -> TransactionView {
        let start = cursor.position
        try cursor.skip(4)  // version
        var inputCount = try cursor.readCount(of: "input", minItemSize: Limits.minInputSize)
        var hasWitness = false
        if inputCount == 0 {
            let flagOffset = cursor.position
            let flag = try cursor.readUInt8()
            if flag != 1 {
                throw WireError(.invalid(flag == 0 ? "transaction with no inputs" : "unknown transaction flag \(flag)"), at: flagOffset)
            }
            hasWitness = true
            inputCount = try cursor.readCount(of: "input", minItemSize: Limits.minInputSize)
            if inputCount == 0 { throw WireError(.invalid("transaction with no inputs"), at: flagOffset + 1) }
        }
        let inputsStart = cursor.position - ByteWriter.compactSizeLength(inputCount)
        for _ in 0..<inputCount {
            try cursor.skip(36)
            let scriptLength = try cursor.readCompactSize()
            try cursor.skip(Int(clamping: scriptLength) &+ 4)
        }
        let outputsStart = cursor.position
        let outputCount = try cursor.readCount(of: "output", minItemSize: Limits.minOutputSize)
        var nullData: Range<Int>?
        var outputValue: Int64 = 0
        for n in 0..<outputCount {
            // Core's CheckTransaction: every value and the running total within MoneyRange.
            let valueOffset = cursor.position
            let value = try cursor.readLE(Int64.self)
            guard let total = Money.add(outputValue, value) else {
                let problem = Money.inRange(value)
                    ? "outputs up to \(n) total more than 21,000,000 BTC (bad-txns-txouttotal-toolarge)"
                    : "output \(n) value \(value) sat is outside 0...21,000,000 BTC (bad-txns-vout-toolarge)"
                throw WireError(.invalid(problem), at: valueOffset)
            }
            outputValue = total
            let scriptLengthValue = try cursor.readCompactSize()
            let scriptStart = cursor.position
            try cursor.skip(Int(clamping: scriptLengthValue))
            let length = Int(scriptLengthValue)
            // Every OP_RETURN-led output decides anew, a malformed one too (docs/virtualchain.md, section 2).
            if length >= 1 && cursor.base[scriptStart] == Opcode.opReturn {
                let afterOpReturn = UnsafeRawBufferPointer(rebasing: cursor.base[(scriptStart + 1)..<(scriptStart + length)])
                nullData = NullData.soleDataPush(afterOpReturn: afterOpReturn).map {
                    (scriptStart + 1 + $0.lowerBound - start)..<(scriptStart + 1 + $0.upperBound - start)
                }
            }
        }
        let outputsEnd = cursor.position
        if hasWitness {
            var anyWitness = false
            for _ in 0..<inputCount {
                let items = try cursor.readCount(of: "witness item", minItemSize: 1)
                anyWitness = anyWitness || items > 0
                for _ in 0..<items {
                    let itemLength = try cursor.readCompactSize()
                    try cursor.skip(Int(clamping: itemLength))
                }
            }
            if !anyWitness { throw WireError(.invalid("superfluous witness record"), at: outputsEnd) }
        }
        try cursor.skip(4)  // lock time
        let bytes = UnsafeRawBufferPointer(rebasing: cursor.base[start..<cursor.position])
        return TransactionView(bytes: bytes, hasWitness: hasWitness, inputCount: inputCount, outputCount: outputCount,
                               outputValue: outputValue, inputsStart: inputsStart - start, outputsStart: outputsStart - start,
                               outputsEnd: outputsEnd - start, nullDataRange: nullData)
    }

    @usableFromInline
    init(bytes: UnsafeRawBufferPointer, hasWitness: Bool, inputCount: Int, outputCount: Int, outputValue: Int64,
         inputsStart: Int, outputsStart: Int, outputsEnd: Int, nullDataRange: Range<Int>?) {
        self.bytes = bytes
        self.outputValue = outputValue
        self.hasWitness = hasWitness
        self.inputCount = inputCount
        self.outputCount = outputCount
        self.inputsStart = inputsStart
        self.outputsStart = outputsStart
        self.outputsEnd = outputsEnd
        self.nullDataRange = nullDataRange
    }

    /// dSHA256 of the serialization without witness data.
    @inlinable public func txid() -> Txid {
        guard hasWitness else { return Txid(Hashes.dsha256(bytes)) }
        return Txid(Hashes.dsha256(parts: UnsafeRawBufferPointer(rebasing: bytes[0..<4]),
                                   UnsafeRawBufferPointer(rebasing: bytes[inputsStart..<outputsEnd]),
                                   UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - 4)...])))
    }

    /// What the txid hashes, as ranges of the serialization (one, or three around the witness).
    var txidMessage: vc_message {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard hasWitness, let base else { return vc_message(part: (base, nil, nil), length: (bytes.count, 0, 0)) }
        return vc_message(part: (base, base + inputsStart, base + bytes.count - 4), length: (4, outputsEnd - inputsStart, 4))
    }

    /// The serialization without witness data (what the txid hashes).
    public func serializedWithoutWitness() -> [UInt8] {
        guard hasWitness else { return Array(bytes) }
        return Array(bytes[0..<4]) + Array(bytes[inputsStart..<outputsEnd]) + Array(bytes[(bytes.count - 4)...])
    }

    /// dSHA256 of the full serialization (equals the txid without witness data).
    @inlinable public func wtxid() -> Wtxid { Wtxid(Hashes.dsha256(bytes)) }

    /// Size without witness data (what the txid covers).
    public var baseSize: Int { hasWitness ? 4 + (outputsEnd - inputsStart) + 4 : bytes.count }
    public var weight: Int { baseSize * (Limits.witnessScaleFactor - 1) + bytes.count }

    public struct Input {
        public var previousTxid: Txid
        public var previousIndex: UInt32
        public var scriptSig: UnsafeRawBufferPointer
        public var sequence: UInt32
        public var isCoinbase: Bool { previousTxid == .zero && previousIndex == .max }
    }

    public struct Output {
        public var value: Int64
        public var scriptPubKey: UnsafeRawBufferPointer
    }

    /// The inputs in order. (The bytes were validated by `parse`, so walking them cannot fail.)
    public func inputs() -> [Input] {
        var cursor = ByteCursor(bytes, position: inputsStart)
        var result: [Input] = []
        result.reserveCapacity(inputCount)
        do {
            _ = try cursor.readCompactSize()
            for _ in 0..<inputCount {
                let txid = try cursor.readHash(as: Txid.self)
                let index = try cursor.readLE(UInt32.self)
                let script = try cursor.readVarBytes()
                let sequence = try cursor.readLE(UInt32.self)
                result.append(Input(previousTxid: txid, previousIndex: index, scriptSig: script, sequence: sequence))
            }
        } catch { preconditionFailure("validated transaction failed to re-parse: \(error)") }
        return result
    }

    public func outputs() -> [Output] {
        var cursor = ByteCursor(bytes, position: outputsStart)
        var result: [Output] = []
        result.reserveCapacity(outputCount)
        do {
            _ = try cursor.readCompactSize()
            for _ in 0..<outputCount {
                let value = try cursor.readLE(Int64.self)
                result.append(Output(value: value, scriptPubKey: try cursor.readVarBytes()))
            }
        } catch { preconditionFailure("validated transaction failed to re-parse: \(error)") }
        return result
    }

    /// Witness stacks, one per input (empty when the transaction has no witness data).
    public func witnesses() -> [[UnsafeRawBufferPointer]] {
        guard hasWitness else { return [] }
        var cursor = ByteCursor(bytes, position: outputsEnd)
        var result: [[UnsafeRawBufferPointer]] = []
        result.reserveCapacity(inputCount)
        do {
            for _ in 0..<inputCount {
                let count = Int(try cursor.readCompactSize())
                var items: [UnsafeRawBufferPointer] = []
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try cursor.readVarBytes()) }
                result.append(items)
            }
        } catch { preconditionFailure("validated transaction failed to re-parse: \(error)") }
        return result
    }
}

/// The nulldata rule of docs/virtualchain.md, section 2, as the original virtualchain decides it.
///
/// The original tokenizes an `OP_RETURN`-led script (pybitcointools' `deserialize_script`) and
/// takes the data only when the script is exactly two tokens, the second a data push. Its
/// tokenizer is lenient: a push that runs past the end of the script pushes the bytes that are
/// there, and an `OP_PUSHDATA1/2/4` length cut short is read, little-endian, from the bytes that
/// remain. A consensus tool must decide these cases as every other implementation does, however
/// odd: such scripts are valid in blocks.
public enum NullData {
    /// The data an `OP_RETURN`-led output carries: `afterOpReturn` is its script after the
    /// `OP_RETURN` byte. The range of the pushed bytes within `afterOpReturn` when what follows
    /// `OP_RETURN` is exactly one data push (direct 1-75 bytes, or `OP_PUSHDATA1/2/4`; cut short
    /// or not, minimal or not); nil when it is anything else (nothing, `OP_0`, `OP_1NEGATE`,
    /// `OP_1`-`OP_16`, another opcode, or a push followed by more), which leaves the transaction
    /// carrying nothing.
    @inlinable
    public static func soleDataPush(afterOpReturn script: UnsafeRawBufferPointer) -> Range<Int>? {
        let count = script.count
        guard count >= 1 else { return nil }
        let op = script[0]
        let dataStart: Int, declaredLength: Int
        switch op {
        case 1...75:
            dataStart = 1
            declaredLength = Int(op)
        case Opcode.pushData1, Opcode.pushData2, Opcode.pushData4:
            let lengthBytes = 1 << Int(op - Opcode.pushData1)  // 1, 2 or 4
            // A length cut short by the script's end: the bytes that remain, little-endian.
            var length = 0
            for i in 0..<min(lengthBytes, count - 1) { length |= Int(script[1 + i]) << (8 * i) }
            dataStart = 1 + lengthBytes
            declaredLength = length
        default:
            return nil
        }
        // A second token follows when the push, as declared, ends before the script does.
        guard dataStart + declaredLength >= count else { return nil }
        return min(dataStart, count)..<count
    }

    /// Longest magic prefix accepted on the command line.
    public static let maxMagicLength = 32

    /// A magic given as ASCII (`id`) or as 0x-prefixed hex (`0x6964`), 1 to 32 bytes.
    public static func parseMagic(_ text: String) -> [UInt8]? {
        let bytes: [UInt8]?
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            bytes = [UInt8](hex: String(text.dropFirst(2)))
        } else {
            bytes = text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) ? Array(text.utf8) : nil
        }
        guard let bytes, (1...maxMagicLength).contains(bytes.count) else { return nil }
        return bytes
    }

    /// The operation carried by `data` for `magic`: opcode and payload, when `data` starts with the
    /// magic and has at least one byte after it.
    @inlinable
    public static func operation(in data: UnsafeRawBufferPointer, magic: [UInt8]) -> (opcode: UInt8, payload: UnsafeRawBufferPointer)? {
        guard data.count >= magic.count + 1 else { return nil }
        for i in 0..<magic.count where data[i] != magic[i] { return nil }
        return (data[magic.count], UnsafeRawBufferPointer(rebasing: data[(magic.count + 1)...]))
    }
}
