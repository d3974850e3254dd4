import BitcoinWire
import BlockFiles

/// A finished block: its bytes, its undo record body (`CBlockUndo`), and what the manifest counts.
struct AssembledBlock {
    var hash: BlockHash
    var header: BlockHeader
    var height: Int
    var bytes: [UInt8]
    var undo: [UInt8]
    var transactionCount: Int
    /// Operations per magic (index into `OpMix.magics`) by the rule of docs/virtualchain.md, section 2.
    var opCounts: [Int]
    /// txids of the caller-chosen transactions, in the order given.
    var specialTxids: [Txid] = []
    var coinbaseTxid: Txid = .zero
    /// Output index of the first extra coinbase output.
    var coinbaseExtraStart = 0
}

/// A transaction whose inputs and outputs the caller chose (scenario operations).
struct TransactionSpec {
    var coins: [Coin]
    var outputs: [TxOut]
}

/// The shape of transactions, chosen to look like mainnet traffic.
struct TransactionMix {
    /// Block weight to aim for (each block takes a random 40-100 % of it, one in ten is full).
    var blockWeight: Int
    var opMix: OpMix
    /// Spendable-coin count the wallet steers towards (more inputs above it, more outputs below it).
    var targetCoins = 20_000
}

/// Builds valid blocks on top of a wallet: coinbase with BIP34 height and witness commitment,
/// transactions that spend the wallet's coins (within the block too), and the block's undo data
/// exactly as Core's `CBlockUndo` serializes it. What a block looks like follows the network's
/// activation heights, as real blocks of that height did: no BIP34 height in the coinbase before
/// BIP34 (a time and an extra nonce instead), the lowest header version of the era, and before
/// segwit no witness data at all, though the coinbase carries a commitment output as miners'
/// software added it ahead of activation in 2017.
struct BlockAssembler {
    let network: Network
    let users: [SimulatedUser]
    /// Random payments go to users below this index; the rest are scenario actors.
    let randomUsers: Int
    let mix: TransactionMix

    /// Weight a block keeps free for its coinbase.
    static let coinbaseReserve = 4_000
    static let sigOpReserve = 400
    /// Header version once BIP65 is active (BIP9 version bits, no deployment signalled).
    static let blockVersion: Int32 = 0x2000_0000
    static let regtestBits: UInt32 = 0x207f_ffff

    // Reused buffers (one block at a time).
    private var txData = ByteWriter(capacity: 4 << 20)
    private var undoBody = ByteWriter(capacity: 1 << 20)
    private var body = ByteWriter(capacity: 1 << 16)
    private var witness = ByteWriter(capacity: 1 << 16)
    /// The rules of the block being assembled.
    private var rules = BlockRules.contextFree

    init(network: Network, users: [SimulatedUser], randomUsers: Int? = nil, mix: TransactionMix) {
        self.network = network
        self.users = users
        self.randomUsers = randomUsers ?? users.count
        self.mix = mix
    }

    /// Target weight of the next block on the main chain.
    func targetWeight(using rng: inout SeededRandom) -> Int {
        if rng.chance(0.1) { return mix.blockWeight }
        return Int(Double(mix.blockWeight) * (0.4 + 0.6 * rng.unit()))
    }

    mutating func assemble(height: Int, previous: BlockHash, time: UInt32, targetWeight: Int,
                           wallet: inout Wallet, rng: inout SeededRandom,
                           specials: [TransactionSpec] = [], coinbaseExtras: [TxOut] = []) -> AssembledBlock {
        wallet.mature(upTo: height)
        rules = network.consensus.rules(atHeight: height)
        txData.removeAll()
        undoBody.removeAll()
        var txids: [Txid] = [.zero]     // slot 0: the coinbase, filled in below
        var wtxids: [Wtxid] = [.zero]    // the coinbase's wtxid is zero in the witness tree
        var opCounts = [Int](repeating: 0, count: mix.opMix.magics.count)
        var weight = 80 * 4 + 4 * 3 + Self.coinbaseReserve
        var sigOps = Self.sigOpReserve
        var fees: Int64 = 0
        var specialTxids: [Txid] = []
        for spec in specials {
            let built = appendTransaction(coins: spec.coins, outputs: spec.outputs, version: 2, rng: &rng)
            weight += built.weight
            sigOps += built.sigOpCost
            fees += spec.coins.reduce(Int64(0)) { $0 + $1.value } - spec.outputs.reduce(Int64(0)) { $0 + $1.value }
            txids.append(built.txid)
            wtxids.append(built.wtxid)
            specialTxids.append(built.txid)
            OpCounting.count(outputs: spec.outputs.map(\.scriptPubKey), magics: mix.opMix.magics.map(\.bytes), into: &opCounts)
        }
        var attempts = 0
        while weight < targetWeight && !wallet.spendable.isEmpty && attempts < 8 {
            let room = min(targetWeight, Limits.maxBlockWeight) - weight
            guard let tx = buildTransaction(height: height, roomWeight: room, roomSigOps: Limits.maxBlockSigOpsCost - sigOps,
                                            wallet: &wallet, rng: &rng) else {
                attempts += 1
                continue
            }
            weight += tx.weight
            sigOps += tx.sigOpCost
            fees += tx.fee
            txids.append(tx.txid)
            wtxids.append(tx.wtxid)
            for (i, n) in tx.opCounts.enumerated() { opCounts[i] += n }
        }
        let coinbase = buildCoinbase(height: height, time: time, reward: network.subsidy(atHeight: height) + fees, extras: coinbaseExtras,
                                     wtxids: wtxids, wallet: &wallet, rng: &rng, opCounts: &opCounts)
        txids[0] = coinbase.txid
        let merkleRoot = Merkle.root(txids).root
        let version = rules.minimumVersion >= 4 ? Self.blockVersion : rules.minimumVersion
        var header = BlockHeader(version: version, previousBlockHash: previous, merkleRoot: merkleRoot,
                                 time: time, bits: Self.regtestBits, nonce: 0)
        let hash = Self.mine(&header)
        var block = ByteWriter(capacity: 80 + 9 + coinbase.bytes.count + txData.count)
        header.encode(to: &block)
        block.writeCompactSize(txids.count)
        block.write(coinbase.bytes)
        block.write(txData.bytes)
        var undo = ByteWriter(capacity: undoBody.count + 9)
        undo.writeCompactSize(txids.count - 1)
        undo.write(undoBody.bytes)
        return AssembledBlock(hash: hash, header: header, height: height, bytes: block.bytes, undo: undo.bytes,
                              transactionCount: txids.count, opCounts: opCounts, specialTxids: specialTxids,
                              coinbaseTxid: coinbase.txid, coinbaseExtraStart: coinbase.extraStart)
    }

    /// Real proof of work against the header's own (regtest-easy) target.
    static func mine(_ header: inout BlockHeader) -> BlockHash {
        while true {
            let hash = header.hash
            if ProofOfWork.check(hash: hash, bits: header.bits) { return hash }
            header.nonce &+= 1
        }
    }

    // MARK: - Coinbase

    private mutating func buildCoinbase(height: Int, time: UInt32, reward: Int64, extras: [TxOut], wtxids: [Wtxid], wallet: inout Wallet,
                                        rng: inout SeededRandom, opCounts: inout [Int]) -> (txid: Txid, bytes: [UInt8], extraStart: Int) {
        // Early coinbases pay many users so the first spendable blocks have coins to work with.
        let payees = wallet.spendable.count < 200 ? 25 : rng.int(1...3)
        var outputs: [TxOut] = []
        var payeeUsers: [Int] = []
        let extraValue = extras.reduce(Int64(0)) { $0 + $1.value }
        precondition(extraValue <= reward, "scenario coinbase outputs exceed the reward")
        var remaining = reward - extraValue
        for i in 0..<payees {
            let value = i == payees - 1 ? remaining : remaining / Int64(payees - i)
            remaining -= value
            let user = rng.int(0..<randomUsers)
            payeeUsers.append(user)
            outputs.append(TxOut(value: value, scriptPubKey: users[user].scriptPubKey))
        }
        let extraStart = outputs.count
        outputs += extras
        // BIP141 witness commitment, as Core's miner always adds once segwit is active (and miners
        // added before it; only the reserved value in the coinbase witness is segwit-only).
        let reserved = [UInt8](repeating: 0, count: 32)
        let witnessRoot = Merkle.root(wtxids).root
        let commitment = Hashes.dsha256(witnessRoot.bytes + reserved)
        outputs.append(TxOut(value: 0, scriptPubKey: Script.nullData([0xaa, 0x21, 0xa9, 0xed] + commitment.bytes)))
        // BIP34: the height first. Before it, a pool's coinbase: a 4-byte time, then an extra nonce.
        let scriptSig = rules.coinbaseHeight
            ? Script.pushNumber(Int64(height)) + Script.push(rng.bytes(4))
            : Script.push(withUnsafeBytes(of: time.littleEndian, Array.init)) + Script.push(rng.bytes(4))
        let tx = Transaction(version: rules.segwit ? 2 : 1,
                             inputs: [TxIn(previousOutput: .null, scriptSig: scriptSig, witness: rules.segwit ? [reserved] : [])],
                             outputs: outputs)
        let txid = tx.txid
        var coins: [Coin] = []
        for (i, out) in outputs.prefix(extraStart).enumerated() where out.value > 0 {
            coins.append(Coin(txid: txid, vout: UInt32(i), user: Int32(payeeUsers[i]), isCoinbase: true,
                              height: Int32(height), value: out.value))
        }
        wallet.addImmature(coins, createdAt: height)
        OpCounting.count(outputs: outputs.map(\.scriptPubKey), magics: mix.opMix.magics.map(\.bytes), into: &opCounts)
        return (txid, tx.serialized(), extraStart)
    }

    // MARK: - Transactions

    struct BuiltTransaction {
        var txid: Txid
        var wtxid: Wtxid
        var weight: Int
        var sigOpCost: Int
        var fee: Int64
        var opCounts: [Int]
    }

    private enum PlannedOutput {
        case own(user: Int)
        case external(script: [UInt8])
        case nullData(script: [UInt8])
    }

    private func inputCount(_ rng: inout SeededRandom, coins: Int) -> Int {
        var n: Int
        switch rng.weightedIndex([55, 20, 8, 7, 6, 4]) {
        case 0: n = 1
        case 1: n = 2
        case 2: n = 3
        case 3: n = rng.int(4...5)
        case 4: n = rng.int(6...10)
        default: n = rng.int(11...20)
        }
        if coins > mix.targetCoins * 2 { n += rng.int(1...4) }
        if rng.chance(0.004) && coins > 400 { n = rng.int(50...300) }  // consolidation
        return min(n, coins)
    }

    private func outputCount(_ rng: inout SeededRandom) -> Int {
        if rng.chance(0.004) { return rng.int(100...1500) }  // batch payout
        switch rng.weightedIndex([20, 55, 8, 7, 5, 5]) {
        case 0: return 1
        case 1: return 2
        case 2: return 3
        case 3: return rng.int(4...5)
        case 4: return rng.int(6...10)
        default: return rng.int(11...20)
        }
    }

    private func externalScript(_ rng: inout SeededRandom) -> [UInt8] {
        switch rng.weightedIndex([40, 25, 20, 10, 3, 2]) {
        case 0: return Script.p2wpkh(rng.bytes(20))
        case 1: return Script.p2pkh(rng.bytes(20))
        case 2: return Script.p2tr(rng.bytes(32))
        case 3: return Script.p2sh(rng.bytes(20))
        case 4: return Script.p2wsh(rng.bytes(32))
        default: return Script.p2pk([UInt8(2 + rng.int(0...1))] + rng.bytes(32))
        }
    }

    private mutating func buildTransaction(height: Int, roomWeight: Int, roomSigOps: Int,
                                           wallet: inout Wallet, rng: inout SeededRandom) -> BuiltTransaction? {
        let nIn = inputCount(&rng, coins: wallet.spendable.count)
        guard nIn > 0 else { return nil }
        // Plan outputs first: sizes fix the fee before values are chosen.
        let ownShare = wallet.spendable.count < mix.targetCoins ? 0.8 : 0.35
        var planned: [PlannedOutput] = []
        let nOut = outputCount(&rng)
        for _ in 0..<nOut {
            planned.append(rng.chance(ownShare) ? .own(user: rng.int(0..<randomUsers)) : .external(script: externalScript(&rng)))
        }
        if !planned.contains(where: { if case .own = $0 { return true } else { return false } }) && rng.chance(0.5) {
            planned.append(.own(user: rng.int(0..<randomUsers)))  // change
        }
        if rng.chance(mix.opMix.rate) {
            let position = rng.int(0...planned.count)
            planned.insert(.nullData(script: OpCounting.makeNullData(mix.opMix, &rng)), at: position)
            if rng.chance(mix.opMix.multi) {
                planned.insert(.nullData(script: OpCounting.makeNullData(mix.opMix, &rng)), at: rng.int(0...planned.count))
            }
        }
        var coins: [Coin] = []
        coins.reserveCapacity(nIn)
        for _ in 0..<nIn { coins.append(wallet.take(using: &rng)) }

        // Sizes.
        // Before segwit a witness program is anyone-can-spend: spent with no witness at all.
        let hasWitness = rules.segwit && coins.contains { users[Int($0.user)].spendsWithWitness }
        var baseSize = 4 + ByteWriter.compactSizeLength(nIn) + ByteWriter.compactSizeLength(planned.count) + 4
        var witnessSize = hasWitness ? 2 : 0
        var sigOps = 0
        for coin in coins {
            let user = users[Int(coin.user)]
            let scriptSigLength = scriptSigSize(user)
            baseSize += 36 + ByteWriter.compactSizeLength(scriptSigLength) + scriptSigLength + 4
            if hasWitness { witnessSize += user.spendsWithWitness ? 1 + 1 + 72 + 1 + 33 + 1 + user.revealedScript.count : 1 }
        }
        for output in planned {
            let script = plannedScript(output)
            baseSize += 8 + ByteWriter.compactSizeLength(script.count) + script.count
            if script.count == 25 && script[24] == Opcode.opCheckSig { sigOps += 4 }
            if script.count == 35 && script[34] == Opcode.opCheckSig { sigOps += 4 }
        }
        let weight = baseSize * 3 + baseSize + witnessSize
        if weight > roomWeight || sigOps > roomSigOps || weight > 400_000 {
            for coin in coins { wallet.spendable.append(coin) }
            return nil
        }

        // Values: fee at 1-60 sat/vB, small payments to outsiders, the rest split among own outputs.
        let vsize = (weight + 3) / 4
        let total = coins.reduce(Int64(0)) { $0 + $1.value }
        var fee = min(total, Int64(vsize) * rng.logUniform(1...60))
        var values = [Int64](repeating: 0, count: planned.count)
        var left = total - fee
        var ownIndices: [Int] = []
        for (i, output) in planned.enumerated() {
            switch output {
            case .external:
                let value = min(rng.logUniform(546...100_000), left / Int64(2 * planned.count))
                values[i] = max(0, value)
                left -= values[i]
            case .own: ownIndices.append(i)
            case .nullData: break
            }
        }
        if ownIndices.isEmpty {
            fee += left  // no change output: the rest goes to the miner
        } else {
            for (k, i) in ownIndices.enumerated() {
                let share = k == ownIndices.count - 1 ? left : Int64(Double(left) * rng.unit() / Double(ownIndices.count - k) * 2)
                values[i] = max(0, min(share, left))
                left -= values[i]
            }
        }

        let outputs = planned.enumerated().map { TxOut(value: values[$0.offset], scriptPubKey: plannedScript($0.element)) }
        let version: Int32 = rng.chance(0.8) ? 2 : 1
        let built = appendTransaction(coins: coins, outputs: outputs, version: version, rng: &rng)
        assert(built.weight == weight, "size accounting out of step with serialization")
        let txid = built.txid
        let wtxid = built.wtxid
        // New coins are spendable at once, later in this same block included.
        for (i, output) in planned.enumerated() {
            if case let .own(user) = output, values[i] > 0 {
                wallet.spendable.append(Coin(txid: txid, vout: UInt32(i), user: Int32(user), isCoinbase: false,
                                             height: Int32(height), value: values[i]))
            }
        }
        var opCounts = [Int](repeating: 0, count: mix.opMix.magics.count)
        if planned.contains(where: { if case .nullData = $0 { return true } else { return false } }) {
            OpCounting.count(outputs: planned.map(plannedScript), magics: mix.opMix.magics.map(\.bytes), into: &opCounts)
        }
        return BuiltTransaction(txid: txid, wtxid: wtxid, weight: weight, sigOpCost: sigOps, fee: fee, opCounts: opCounts)
    }

    /// Serializes a transaction spending `coins` into the block and its undo data into the block's
    /// undo record.
    private mutating func appendTransaction(coins: [Coin], outputs: [TxOut], version: Int32,
                                            rng: inout SeededRandom) -> (txid: Txid, wtxid: Wtxid, weight: Int, sigOpCost: Int) {
        // Before segwit a witness program is anyone-can-spend: spent with no witness at all.
        let hasWitness = rules.segwit && coins.contains { users[Int($0.user)].spendsWithWitness }
        body.removeAll()
        witness.removeAll()
        body.writeCompactSize(coins.count)
        for coin in coins {
            let user = users[Int(coin.user)]
            body.write(coin.txid)
            body.writeLE(coin.vout)
            writeScriptSig(user, rng: &rng)
            body.writeLE(UInt32(0xffff_fffd))
            if hasWitness {
                if user.spendsWithWitness {
                    witness.write(3)
                    witness.write(72); appendDummySignature(to: &witness, rng: &rng)
                    witness.write(33); appendDummyKey(to: &witness, rng: &rng)
                    witness.writeVarBytes(user.revealedScript)
                } else {
                    witness.write(0)
                }
            }
        }
        body.writeCompactSize(outputs.count)
        var sigOps = 0
        for output in outputs {
            body.writeLE(output.value)
            body.writeVarBytes(output.scriptPubKey)
            let script = output.scriptPubKey
            if (script.count == 25 || script.count == 35) && script[script.count - 1] == Opcode.opCheckSig { sigOps += 4 }
        }
        let lockTime: UInt32 = 0
        var txidHasher = SHA256Hasher()
        withUnsafeBytes(of: version.littleEndian) { txidHasher.update($0) }
        txidHasher.update(body.bytes)
        withUnsafeBytes(of: lockTime.littleEndian) { txidHasher.update($0) }
        let txid = txidHasher.finalizeDouble()
        let start = txData.count
        txData.writeLE(version)
        if hasWitness { txData.write(0x00); txData.write(0x01) }
        txData.write(body.bytes)
        txData.write(witness.bytes)
        txData.writeLE(lockTime)
        let wtxid = hasWitness
            ? txData.bytes.withUnsafeBytes { Hashes.dsha256(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            : txid
        let baseSize = 4 + body.count + 4
        let weight = baseSize * 3 + (txData.count - start)
        // Undo: the spent coins in input order (`CTxUndo`).
        undoBody.writeCompactSize(coins.count)
        for coin in coins {
            UndoFormat.writeCoin(TxOut(value: coin.value, scriptPubKey: users[Int(coin.user)].scriptPubKey),
                                 height: Int(coin.height), isCoinbase: coin.isCoinbase, to: &undoBody)
        }
        return (Txid(txid), Wtxid(wtxid), weight, sigOps)
    }

    private func plannedScript(_ output: PlannedOutput) -> [UInt8] {
        switch output {
        case let .own(user): return users[user].scriptPubKey
        case let .external(script), let .nullData(script): return script
        }
    }

    private func scriptSigSize(_ user: SimulatedUser) -> Int {
        switch user.kind {
        case .p2wsh, .bare: return 0
        case .p2shP2wsh: return user.nestedScriptSig.count
        case .p2sh: return 1 + 72 + 1 + 33 + 1 + user.revealedScript.count
        }
    }

    private mutating func writeScriptSig(_ user: SimulatedUser, rng: inout SeededRandom) {
        switch user.kind {
        case .p2wsh, .bare: body.write(0)
        case .p2shP2wsh: body.writeVarBytes(user.nestedScriptSig)
        case .p2sh:
            body.writeCompactSize(scriptSigSize(user))
            body.write(72); appendDummySignature(to: &body, rng: &rng)
            body.write(33); appendDummyKey(to: &body, rng: &rng)
            body.write(UInt8(user.revealedScript.count)); body.write(user.revealedScript)
        }
    }

    /// 72 bytes shaped like a DER signature with SIGHASH_ALL (content is never checked).
    private func appendDummySignature(to writer: inout ByteWriter, rng: inout SeededRandom) {
        writer.write(0x30); writer.write(0x45); writer.write(0x02); writer.write(0x21); writer.write(0x00)
        rng.appendBytes(32, to: &writer.bytes)
        writer.write(0x02); writer.write(0x20)
        rng.appendBytes(32, to: &writer.bytes)
        writer.write(0x01)
    }

    private func appendDummyKey(to writer: inout ByteWriter, rng: inout SeededRandom) {
        writer.write(UInt8(2 + rng.int(0...1)))
        rng.appendBytes(32, to: &writer.bytes)
    }
}
