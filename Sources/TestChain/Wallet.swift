import BitcoinWire

/// A simulated user whose outputs the generator can spend later. Without private keys every
/// spendable script is "anyone who shows the script": `OP_2DROP <20-byte identity> OP_DROP OP_1`
/// behind P2WSH, P2SH-P2WSH or P2SH (or bare), so each user still has a distinct scriptPubKey and
/// spends look like ordinary signature spends in size (a 71-72 byte "signature" and a 33-byte "key"
/// are pushed and dropped).
struct SimulatedUser {
    enum Kind: CaseIterable { case p2wsh, p2shP2wsh, p2sh, bare }

    let kind: Kind
    let scriptPubKey: [UInt8]
    /// The script revealed when spending (witness script or P2SH redeem script).
    let revealedScript: [UInt8]
    /// For P2SH-P2WSH: the push of the 34-byte witness program, the whole scriptSig.
    let nestedScriptSig: [UInt8]

    init(kind: Kind, identity: [UInt8]) {
        self.kind = kind
        let inner = [Opcode.op2Drop, 20] + identity + [Opcode.opDrop, Opcode.op1]
        switch kind {
        case .p2wsh:
            revealedScript = inner
            scriptPubKey = Script.p2wsh(Hashes.sha256(inner).bytes)
            nestedScriptSig = []
        case .p2shP2wsh:
            revealedScript = inner
            let program = Script.p2wsh(Hashes.sha256(inner).bytes)
            scriptPubKey = Script.p2sh(Hashes.hash160(program))
            nestedScriptSig = Script.push(program)
        case .p2sh:
            revealedScript = inner
            scriptPubKey = Script.p2sh(Hashes.hash160(inner))
            nestedScriptSig = []
        case .bare:
            // Non-standard but valid: spent with an empty scriptSig.
            revealedScript = []
            scriptPubKey = [20] + identity + [Opcode.opDrop, Opcode.op1]
            nestedScriptSig = []
        }
    }

    var spendsWithWitness: Bool { kind == .p2wsh || kind == .p2shP2wsh }
}

/// An unspent output the generator may spend.
struct Coin {
    var txid: Txid
    var vout: UInt32
    var user: Int32
    var isCoinbase: Bool
    var height: Int32
    var value: Int64
}

/// The simulated users' spendable outputs. Picking is O(1) (swap-remove); coinbase outputs wait
/// in `immature` until 100 blocks have passed.
struct Wallet {
    var spendable: [Coin] = []
    private var immature: [(matureAt: Int, coins: [Coin])] = []
    private var immatureHead = 0

    mutating func addImmature(_ coins: [Coin], createdAt height: Int) {
        guard !coins.isEmpty else { return }
        immature.append((height + Limits.coinbaseMaturity, coins))
    }

    /// Makes coinbase outputs spendable in a block at `height`.
    mutating func mature(upTo height: Int) {
        while immatureHead < immature.count && immature[immatureHead].matureAt <= height {
            spendable.append(contentsOf: immature[immatureHead].coins)
            immature[immatureHead].coins = []
            immatureHead += 1
        }
        if immatureHead > 1024 {
            immature.removeFirst(immatureHead)
            immatureHead = 0
        }
    }

    mutating func take(using rng: inout SeededRandom) -> Coin {
        let index = rng.int(0..<spendable.count)
        spendable.swapAt(index, spendable.count - 1)
        return spendable.removeLast()
    }

    /// A copy of up to `count` random spendable coins, for a side branch that must not touch ours.
    func sample(_ count: Int, using rng: inout SeededRandom) -> Wallet {
        var copy = Wallet()
        guard !spendable.isEmpty else { return copy }
        var indices = Array(spendable.indices)
        for i in 0..<min(count, indices.count) {
            let j = rng.int(i..<indices.count)
            indices.swapAt(i, j)
            copy.spendable.append(spendable[indices[i]])
        }
        return copy
    }
}
