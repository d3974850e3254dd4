/// A reference to a transaction output.
public struct OutPoint: Hashable, Sendable {
    public var txid: Txid
    public var index: UInt32

    public init(txid: Txid, index: UInt32) {
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

    public var txid: Txid { Txid(Hashes.dsha256(serialized(witness: false))) }
    public var wtxid: Wtxid { Wtxid(Hashes.dsha256(serialized(witness: true))) }

    /// Decodes one transaction (legacy or BIP144 segwit form). There is one decoder:
    /// `TransactionView.parse` (Core's rules for the marker and flag, the superfluous-witness
    /// rule, counts checked against the bytes left, the money range); this copies what it found.
    public init(from cursor: inout ByteCursor) throws(WireError) {
        self.init(try TransactionView.parse(from: &cursor))
    }

    /// An owned copy of a parsed transaction.
    /// An owned copy of `view`; `withWitness: false` leaves every input's witness empty.
    public init(_ view: TransactionView, withWitness: Bool = true) {
        let witnesses = withWitness ? view.witnesses() : []
        version = view.version
        inputs = view.inputs().enumerated().map { i, input in
            TxIn(previousOutput: OutPoint(txid: input.previousTxid, index: input.previousIndex), scriptSig: Array(input.scriptSig),
                 sequence: input.sequence, witness: i < witnesses.count ? witnesses[i].map { Array($0) } : [])
        }
        outputs = view.outputs().map { TxOut(value: $0.value, scriptPubKey: Array($0.scriptPubKey)) }
        lockTime = view.lockTime
    }
}
