import BitcoinWire
import BlockFiles

/// The spent output behind one input of an operation's transaction.
public struct Sender: Hashable, Sendable {
    public var scriptPubKey: [UInt8]
    public var value: Int64
    public init(scriptPubKey: [UInt8], value: Int64) { self.scriptPubKey = scriptPubKey; self.value = value }
}

/// Who paid for a transaction: one sender per input, or unknown where previous outputs could not
/// be resolved (no undo data, and the fallback pass did not find them).
public enum Senders: Hashable, Sendable {
    case resolved([Sender])
    case unresolved

    public var first: Sender? {
        if case let .resolved(senders) = self { return senders.first }
        return nil
    }
}

/// A transaction that carries the machine's magic and a known opcode (docs/virtualchain.md, section 2), with
/// everything a state machine may look at.
///
/// Candidates are built on the block pass's worker threads and handed to the machine on the
/// replay thread, in vtxindex order; they are values and may be kept.
public struct Candidate: Sendable {
    /// Height of the block holding the transaction.
    public var height: Int
    public var blockHash: BlockHash
    public var txid: Txid
    /// Position of the transaction in its block (0 is the coinbase).
    public var vtxindex: Int
    /// The byte after the magic.
    public var opcode: UInt8
    /// The bytes after the opcode.
    public var payload: [UInt8]
    /// Every input of the transaction: the outpoint it spends, its scriptSig and its witness
    /// (empty without segwit data).
    public var inputs: [TxIn]
    /// Every output of the transaction, the `OP_RETURN` one included; each value and their sum
    /// lie within 0...21,000,000 BTC.
    public var outputs: [TxOut]
    /// The outputs the transaction's inputs spent, from Bitcoin Core's undo files (or the
    /// fallback pass), or `.unresolved`.
    public var senders: Senders
    /// Sum of spent values minus sum of output values; nil when senders are unresolved.
    public var fee: Int64?

    public init(height: Int, blockHash: BlockHash, txid: Txid, vtxindex: Int, opcode: UInt8, payload: [UInt8],
                inputs: [TxIn] = [], outputs: [TxOut], senders: Senders, fee: Int64?) {
        self.height = height
        self.blockHash = blockHash
        self.txid = txid
        self.vtxindex = vtxindex
        self.opcode = opcode
        self.payload = payload
        self.inputs = inputs
        self.outputs = outputs
        self.senders = senders
        self.fee = fee
    }
}

/// The coins some of a block's transactions spent, by vtxindex (from the block's undo record):
/// those of its candidates, or all of them.
public struct SpentCoins: Sendable {
    private var coins: [Int: [SpentCoin]]

    public init(byTransaction coins: [Int: [SpentCoin]]) { self.coins = coins }

    /// Every non-coinbase transaction's coins in block order, as `UndoFormat.decodeBlockUndo`
    /// gives them.
    public init(all: [[SpentCoin]]) {
        coins = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($0.offset + 1, $0.element) })
    }

    /// The coins transaction `vtxindex` spent, one per input, if known.
    public subscript(vtxindex: Int) -> [SpentCoin]? { coins[vtxindex] }
}

/// A candidate transaction whose values Core would never accept: an amount or a sum outside
/// `Money`'s range, or a transaction spending less than it pays.
public struct CandidateValueError: Error, CustomStringConvertible, Sendable {
    public var vtxindex: Int
    public var txid: Txid
    /// Offset of the transaction within its block.
    public var blockOffset: Int
    public var message: String
    public var description: String { "transaction \(txid) (index \(vtxindex)): \(message)" }
}

/// Finding a block's candidate operations (docs/virtualchain.md, section 2) and their senders; independent of any
/// machine, so worker threads can call it.
public enum CandidateExtraction {
    /// The block's candidate transactions, with senders and fees where `spent` (the block's undo
    /// data) or `fallback` (previous outputs found by the extra pass) resolves them. Every sum is
    /// checked against Core's money range (`CheckTxInputs`), so no value can overflow.
    ///
    /// `txids`, where the caller has them (verification computed them), are used as they are: a
    /// candidate's transaction is not hashed again.
    /// `withWitness: false` hands on inputs without their witness data (for a machine that
    /// reads none, whose blocks' witness commitments are then not checked).
    public static func candidates(in view: BlockView, height: Int, hash: BlockHash, filter: OperationFilter, txids: [Txid]? = nil,
                                  withWitness: Bool = true,
                                  spent: SpentCoins?, fallback: [OutPoint: TxOut]) throws(CandidateValueError) -> [Candidate] {
        var candidates: [Candidate] = []
        for (vtxindex, tx) in view.transactions.enumerated() {
            guard let op = filter.operation(in: tx) else { continue }
            let owned = Transaction(tx, withWitness: withWitness)
            candidates.append(Candidate(height: height, blockHash: hash, txid: txids?[vtxindex] ?? tx.txid(), vtxindex: vtxindex, opcode: op.opcode,
                                        payload: Array(op.payload), inputs: owned.inputs, outputs: owned.outputs, senders: .unresolved, fee: nil))
        }
        guard !candidates.isEmpty else { return [] }
        for i in candidates.indices {
            let vtxindex = candidates[i].vtxindex
            func refuse(_ message: String) -> CandidateValueError {
                CandidateValueError(vtxindex: vtxindex, txid: candidates[i].txid, blockOffset: view.offset(ofTransaction: vtxindex), message: message)
            }
            // The parser bounded every output value and their total.
            guard let outputTotal = Money.sum(candidates[i].outputs.lazy.map(\.value)) else {
                throw refuse("outputs total outside 0...21,000,000 BTC (bad-txns-txouttotal-toolarge)")
            }
            if vtxindex == 0 {
                candidates[i].senders = .resolved([])  // a coinbase spends nothing
                continue
            }
            var senders: [Sender]?
            if let coins = spent?[vtxindex] {
                senders = coins.map { Sender(scriptPubKey: $0.output.scriptPubKey, value: $0.output.value) }
            } else if !fallback.isEmpty {
                let found = candidates[i].inputs.compactMap { fallback[$0.previousOutput] }
                if found.count == candidates[i].inputs.count { senders = found.map { Sender(scriptPubKey: $0.scriptPubKey, value: $0.value) } }
            }
            if let senders {
                guard let inputTotal = Money.sum(senders.lazy.map(\.value)) else {
                    throw refuse("the coins it spends total outside 0...21,000,000 BTC (bad-txns-inputvalues-outofrange)")
                }
                guard inputTotal >= outputTotal else {
                    throw refuse("spends \(inputTotal) sat but pays \(outputTotal) sat (bad-txns-in-belowout)")
                }
                candidates[i].senders = .resolved(senders)
                candidates[i].fee = inputTotal - outputTotal
            }
        }
        return candidates
    }
}
