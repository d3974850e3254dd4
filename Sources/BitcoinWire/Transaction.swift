/// A reference to a transaction output.
public struct OutPoint: Hashable, Sendable {
    public var txid: Hash256
    public var index: UInt32

    public init(txid: Hash256, index: UInt32) {
        self.txid = txid
        self.index = index
    }

    /// The "null" outpoint of a coinbase input.
    public static let null = OutPoint(txid: .zero, index: .max)
    public var isNull: Bool { txid == .zero && index == .max }
}

public struct TxIn: Hashable, Sendable {
    public var previousOutput: OutPoint
    public var scriptSig: [UInt8]
    public var sequence: UInt32
    public var witness: [[UInt8]]

    public init(previousOutput: OutPoint, scriptSig: [UInt8], sequence: UInt32 = 0xffff_ffff, witness: [[UInt8]] = []) {
        self.previousOutput = previousOutput
        self.scriptSig = scriptSig
        self.sequence = sequence
        self.witness = witness
    }
}

public struct TxOut: Hashable, Sendable {
    public var value: Int64
    public var scriptPubKey: [UInt8]

    public init(value: Int64, scriptPubKey: [UInt8]) {
        self.value = value
        self.scriptPubKey = scriptPubKey
    }
}

/// An owned, fully decoded transaction. Convenient for building and for tests; bulk parsing uses
/// zero-copy views instead.
public struct Transaction: Hashable, Sendable {
    public var version: Int32
    public var inputs: [TxIn]
    public var outputs: [TxOut]
    public var lockTime: UInt32

    public init(version: Int32, inputs: [TxIn], outputs: [TxOut], lockTime: UInt32 = 0) {
        self.version = version
        self.inputs = inputs
        self.outputs = outputs
        self.lockTime = lockTime
    }

    public var hasWitness: Bool { inputs.contains { !$0.witness.isEmpty } }
    public var isCoinbase: Bool { inputs.count == 1 && inputs[0].previousOutput.isNull }

    /// Consensus serialization; with `witness` the BIP144 form when any input has witness data.
    public func encode(to writer: inout ByteWriter, witness: Bool = true) {
        let withWitness = witness && hasWitness
        writer.writeLE(version)
        if withWitness { writer.write(0x00); writer.write(0x01) }
        writer.writeCompactSize(inputs.count)
        for input in inputs {
            writer.write(input.previousOutput.txid)
            writer.writeLE(input.previousOutput.index)
            writer.writeVarBytes(input.scriptSig)
            writer.writeLE(input.sequence)
        }
        writer.writeCompactSize(outputs.count)
        for output in outputs {
            writer.writeLE(output.value)
            writer.writeVarBytes(output.scriptPubKey)
        }
        if withWitness {
            for input in inputs {
                writer.writeCompactSize(input.witness.count)
                for item in input.witness { writer.writeVarBytes(item) }
            }
        }
        writer.writeLE(lockTime)
    }

    public func serialized(witness: Bool = true) -> [UInt8] {
        var writer = ByteWriter(capacity: 256)
        encode(to: &writer, witness: witness)
        return writer.bytes
    }

    public var txid: Hash256 { Hashes.dsha256(serialized(witness: false)) }
    public var wtxid: Hash256 { Hashes.dsha256(serialized(witness: true)) }

    /// Decodes one transaction (legacy or BIP144 segwit form) with Core's rules for the
    /// marker/flag byte; every count is checked against the bytes remaining before allocating.
    public init(from cursor: inout ByteCursor) throws(WireError) {
        version = try cursor.readLE(Int32.self)
        var inputCount = try cursor.readCount(of: "input", minItemSize: Limits.minInputSize)
        var flags: UInt8 = 0
        if inputCount == 0 {
            // Either an empty input list or the segwit marker; Core reads the flag byte next.
            let flagOffset = cursor.position
            flags = try cursor.readUInt8()
            if flags == 0 { throw WireError(.invalid("transaction with no inputs"), at: flagOffset) }
            if flags != 1 { throw WireError(.invalid("unknown transaction flag \(flags)"), at: flagOffset) }
            inputCount = try cursor.readCount(of: "input", minItemSize: Limits.minInputSize)
        }
        var inputs = [TxIn]()
        inputs.reserveCapacity(inputCount)
        for _ in 0..<inputCount {
            let txid = try cursor.readHash()
            let index = try cursor.readLE(UInt32.self)
            let script = Array(try cursor.readVarBytes())
            let sequence = try cursor.readLE(UInt32.self)
            inputs.append(TxIn(previousOutput: OutPoint(txid: txid, index: index), scriptSig: script, sequence: sequence))
        }
        let outputCount = try cursor.readCount(of: "output", minItemSize: Limits.minOutputSize)
        var outputs = [TxOut]()
        outputs.reserveCapacity(outputCount)
        for _ in 0..<outputCount {
            let value = try cursor.readLE(Int64.self)
            outputs.append(TxOut(value: value, scriptPubKey: Array(try cursor.readVarBytes())))
        }
        if flags & 1 != 0 {
            let witnessStart = cursor.position
            var any = false
            for i in 0..<inputs.count {
                let itemCount = try cursor.readCount(of: "witness item", minItemSize: 1)
                var items = [[UInt8]]()
                items.reserveCapacity(itemCount)
                for _ in 0..<itemCount { items.append(Array(try cursor.readVarBytes())) }
                inputs[i].witness = items
                any = any || !items.isEmpty
            }
            // Core rejects a segwit-flagged transaction whose witnesses are all empty.
            if !any { throw WireError(.invalid("superfluous witness record"), at: witnessStart) }
        }
        lockTime = try cursor.readLE(UInt32.self)
        self.inputs = inputs
        self.outputs = outputs
    }
}
