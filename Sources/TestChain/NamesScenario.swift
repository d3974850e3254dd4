import BitcoinWire
import BlockFiles
import Names
import Virtualchain

/// `--scenario names`: a cast of actors who preorder, register, renew, update, transfer and revoke
/// names, plus every kind of invalid operation the names spec rejects and malformed decoys.
///
/// The planner keeps its own model of the rules and writes down the outcome it intends for every
/// operation (`expected`), independently of the state machine; the generator runs the real
/// machine alongside only to learn consensus hashes to embed.
struct NamesScenario {
    static let actorCount = 24
    static let recipientValue: Int64 = 10_000
    static let fee: Int64 = 2_000

    struct Preorder {
        enum Intent { case register, unpaid, expire, duplicate, none }
        var name: String
        var sender: Int
        var recipient: Int
        var height: Int
        var burned: Int64
        var intent: Intent
    }

    struct NameState {
        var owner: Int
        var expiresAt: Int
        var revoked: Bool
    }

    /// Actors are `users[firstActor + i]`.
    let firstActor: Int
    let firstBlock: Int
    let users: [SimulatedUser]
    private var coins: [[Coin]]
    private var immature: [(matureAt: Int, actor: Int, coin: Coin)] = []
    private var preorders: [String: Preorder] = [:]   // by preorder hash (hex), accepted ones
    private var preorderOrder: [String] = []          // deterministic iteration order
    private var names: [String: NameState] = [:]
    private var nameOrder: [String] = []
    /// Outcome counts the planner intends, keyed like the state's `vc_counts`.
    private(set) var expected: [String: Int] = [:]
    private var pendingCoins: [(actor: Int, output: Int, special: Int, value: Int64)] = []
    private var pendingFunding: (actor: Int, value: Int64)?
    /// Plan only operations meant to be accepted (on a losing branch, whose rollback must undo them).
    private var validOnly = false

    init(firstActor: Int, users: [SimulatedUser], firstBlock: Int) {
        self.firstActor = firstActor
        self.users = users
        self.firstBlock = firstBlock
        coins = Array(repeating: [], count: Self.actorCount)
    }

    private func script(_ actor: Int) -> [UInt8] { users[firstActor + actor].scriptPubKey }

    /// A coinbase output funding one actor per block (spendable 100 blocks later).
    mutating func coinbaseFunding(height: Int, network: Network) -> [TxOut] {
        let value = min(1_000_000_000, network.subsidy(atHeight: height) / 2)
        guard value >= 100_000 else { pendingFunding = nil; return [] }
        let actor = height % Self.actorCount
        pendingFunding = (actor, value)
        return [TxOut(value: value, scriptPubKey: script(actor))]
    }

    /// Weights of `planOne`'s kinds on the main chain (preorders, registrations, renewals, updates,
    /// transfers, revocations, and every invalid kind).
    static let mainWeights: [Double] = [30, 4, 4, 3, 3, 25, 10, 4, 8, 4, 3, 3, 3, 3, 3]
    /// On a branch that will lose a reorganisation: registrations, updates and transfers, the
    /// operations whose rollback an importer must get right.
    static let losingBranchWeights: [Double] = [0, 0, 0, 0, 0, 40, 30, 0, 30, 0, 0, 0, 0, 0, 0]

    /// A copy to play out a branch that will lose a reorganisation: what it plans there (and the
    /// outcomes it intends) never reaches the main chain's planner.
    func forLosingBranch() -> NamesScenario {
        var copy = self
        copy.pendingFunding = nil
        copy.validOnly = true
        return copy
    }

    /// Planned operations for the block at `height`, given this node's consensus hashes so far.
    mutating func plan(height: Int, consensus: ConsensusChain, rng: inout SeededRandom,
                       weights: [Double] = NamesScenario.mainWeights, operations: Int? = nil) -> [TransactionSpec] {
        while let first = immature.first, first.matureAt <= height {
            coins[first.actor].append(first.coin)
            immature.removeFirst()
        }
        pendingCoins = []
        guard height > firstBlock + 1 else { return [] }
        var specs: [TransactionSpec] = []
        var touched = Set<String>()
        let wanted = operations ?? rng.weightedIndex([30, 30, 25, 15])  // 0-3 operations
        for _ in 0..<wanted {
            guard let spec = planOne(height: height, consensus: consensus, touched: &touched, rng: &rng, index: specs.count,
                                     weights: weights) else { continue }
            specs.append(spec)
        }
        return specs
    }

    /// After the block is built: the coins its operations created belong to their actors.
    mutating func didAssemble(_ block: AssembledBlock) {
        for entry in pendingCoins {
            coins[entry.actor].append(Coin(txid: block.specialTxids[entry.special], vout: UInt32(entry.output), user: Int32(firstActor + entry.actor),
                                           isCoinbase: false, height: Int32(block.height), value: entry.value))
        }
        if let funding = pendingFunding {
            immature.append((block.height + Limits.coinbaseMaturity, funding.actor,
                             Coin(txid: block.coinbaseTxid, vout: UInt32(block.coinbaseExtraStart), user: Int32(firstActor + funding.actor),
                                  isCoinbase: true, height: Int32(block.height), value: funding.value)))
        }
    }

    // MARK: - One operation

    private mutating func expect(_ key: String) { expected[key, default: 0] += 1 }

    private func recentConsensusHash(height: Int, consensus: ConsensusChain, rng: inout SeededRandom) -> [UInt8]? {
        let newest = height - 1, oldest = max(firstBlock, height - NamesMachine.consensusWindow)
        guard newest >= oldest else { return nil }
        let pick = newest - rng.int(0...min(10, newest - oldest))
        return consensus.digest(atHeight: pick).map { $0.withUnsafeBytes { Array($0) } }
    }

    private func freshName(_ rng: inout SeededRandom) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        while true {
            var label = [UInt8(ascii: "a") + UInt8(rng.int(0..<26))]
            for _ in 0..<rng.int(2...14) { label.append(alphabet[rng.int(0..<alphabet.count)]) }
            let name = String(decoding: label, as: UTF8.self) + ".id"
            if names[name] == nil && !preorders.values.contains(where: { $0.name == name }) { return name }
        }
    }

    /// Builds the transaction: input from `sender`'s largest coin; outputs OP_RETURN, `recipient`
    /// (10,000 sat), an optional burn, change back to the sender.
    private mutating func transaction(sender: Int, recipient: Int, opcode: UInt8, payload: [UInt8], burn: Int64, index: Int) -> TransactionSpec? {
        let needed = Self.recipientValue + burn + Self.fee + 1_000
        guard let best = coins[sender].indices.max(by: { coins[sender][$0].value < coins[sender][$1].value }),
              coins[sender][best].value >= needed else { return nil }
        let coin = coins[sender].remove(at: best)
        var outputs = [TxOut(value: 0, scriptPubKey: Script.nullData(Array("id".utf8) + [opcode] + payload)),
                       TxOut(value: Self.recipientValue, scriptPubKey: script(recipient))]
        if burn > 0 { outputs.append(TxOut(value: burn, scriptPubKey: NamesMachine.burnScript)) }
        let change = coin.value - Self.recipientValue - burn - Self.fee
        outputs.append(TxOut(value: change, scriptPubKey: script(sender)))
        pendingCoins.append((recipient, 1, index, Self.recipientValue))
        pendingCoins.append((sender, outputs.count - 1, index, change))
        return TransactionSpec(coins: [coin], outputs: outputs)
    }

    private func funded(_ actor: Int) -> Bool {
        coins[actor].contains { $0.value >= Self.recipientValue + 200_000 }
    }

    private mutating func planOne(height: Int, consensus: ConsensusChain, touched: inout Set<String>,
                                  rng: inout SeededRandom, index: Int, weights: [Double]) -> TransactionSpec? {
        let fundedActors = (0..<Self.actorCount).filter(funded)
        guard !fundedActors.isEmpty else { return nil }
        let sender = fundedActors[rng.int(0..<fundedActors.count)]
        let other = rng.int(0..<Self.actorCount)
        let live = nameOrder.filter { names[$0]!.expiresAt > height && !touched.contains($0) }
        let ready = preorderOrder.filter { hash in
            let p = preorders[hash]!
            return p.height < height && !touched.contains(p.name) && coins[p.sender].contains { $0.value >= Self.recipientValue + 200_000 }
        }
        let kind = rng.weightedIndex(weights)
        switch kind {
        case 0, 1, 3:  // preorder: valid (to register), valid but underpaid, valid to let expire
            guard let ch = recentConsensusHash(height: height, consensus: consensus, rng: &rng) else { return nil }
            let name = freshName(&rng)
            let recipient = other
            let price = NamesMachine.price(name: name)
            let intent: Preorder.Intent = kind == 0 ? .register : (kind == 1 ? .unpaid : .expire)
            let burned = intent == .unpaid ? price - 1 : price
            let hash = NamesMachine.preorderHash(name: name, sender: script(sender), recipient: script(recipient))
            guard let spec = transaction(sender: sender, recipient: recipient, opcode: NamesMachine.Opcode.preorder, payload: hash + ch, burn: burned, index: index) else { return nil }
            let key = Hex.encode(hash)
            preorders[key] = Preorder(name: name, sender: sender, recipient: recipient, height: height, burned: burned, intent: intent)
            preorderOrder.append(key)
            touched.insert(name)
            expect("accepted:?")
            return spec
        case 2:  // preorder with a stale consensus hash
            let name = freshName(&rng)
            let hash = NamesMachine.preorderHash(name: name, sender: script(sender), recipient: script(other))
            guard let spec = transaction(sender: sender, recipient: other, opcode: NamesMachine.Opcode.preorder, payload: hash + rng.bytes(16), burn: 1_000, index: index) else { return nil }
            expect("rejected:stale consensus hash")
            return spec
        case 4:  // the same preorder again while the first is pending
            guard let ch = recentConsensusHash(height: height, consensus: consensus, rng: &rng),
                  let key = ready.first(where: { preorders[$0]!.height + NamesMachine.preorderLifetime > height }) else { return nil }
            let p = preorders[key]!
            guard let spec = transaction(sender: p.sender, recipient: p.recipient, opcode: NamesMachine.Opcode.preorder,
                                         payload: [UInt8](hex: key)! + ch, burn: p.burned, index: index) else { return nil }
            touched.insert(p.name)
            expect("rejected:duplicate")
            return spec
        case 5:  // register a pending preorder, whatever its intent says will happen
            func wanted(_ p: Preorder) -> Bool {
                let unexpired = p.height + NamesMachine.preorderLifetime > height
                guard validOnly else { return p.intent != .none && (p.intent != .expire || !unexpired) }
                let free = names[p.name].map { $0.expiresAt <= height } ?? true
                return p.intent == .register && unexpired && free
            }
            guard let key = ready.first(where: { wanted(preorders[$0]!) }) else { return nil }
            var p = preorders[key]!
            guard let spec = transaction(sender: p.sender, recipient: p.recipient, opcode: NamesMachine.Opcode.register, payload: Array(p.name.utf8), burn: 0, index: index) else { return nil }
            touched.insert(p.name)
            // The spec's order: a renewal is judged as one; a register fails first on its
            // preorder's expiry, then on the name (revoked, taken), then on the payment.
            if let state = names[p.name], state.expiresAt > height, state.owner == p.sender {
                // A renewal; a revoked name accepts none until it expires.
                if state.revoked {
                    expect("rejected:revoked")
                } else {
                    expect("accepted::")
                    names[p.name] = NameState(owner: p.recipient, expiresAt: height + NamesMachine.registrationLifetime, revoked: false)
                }
                p.intent = .none
                preorders[key] = p
            } else if p.height + NamesMachine.preorderLifetime <= height {
                expect("rejected:expired")
                p.intent = .none
                preorders[key] = p
            } else if let state = names[p.name], state.expiresAt > height {
                expect(state.revoked ? "rejected:revoked" : "rejected:duplicate")
                p.intent = .none
                preorders[key] = p
            } else if p.burned < NamesMachine.price(name: p.name) {
                expect("rejected:unpaid")
                p.intent = .none
                preorders[key] = p
            } else {
                expect("accepted::")
                names[p.name] = NameState(owner: p.recipient, expiresAt: height + NamesMachine.registrationLifetime, revoked: false)
                nameOrder.append(p.name)
                preorders[key] = nil
                preorderOrder.removeAll { $0 == key }
            }
            return spec
        case 6, 7, 12:  // update: by the owner, by someone else, or of a revoked name
            let candidates = live.filter { kind == 12 ? names[$0]!.revoked : !names[$0]!.revoked }
            guard let name = candidates.first(where: { kind == 7 || funded(names[$0]!.owner) }) else { return nil }
            let owner = names[name]!.owner
            let from = kind == 7 ? (0..<Self.actorCount).first { $0 != owner && funded($0) } : owner
            guard let from, let spec = transaction(sender: from, recipient: from, opcode: NamesMachine.Opcode.update,
                                                   payload: rng.bytes(20) + Array(name.utf8), burn: 0, index: index) else { return nil }
            touched.insert(name)
            expect(kind == 6 ? "accepted:+" : (kind == 7 ? "rejected:wrong sender" : "rejected:revoked"))
            return spec
        case 8, 9:  // transfer with a recent or a stale consensus hash
            guard let name = live.first(where: { !names[$0]!.revoked && funded(names[$0]!.owner) }) else { return nil }
            let owner = names[name]!.owner
            let ch = kind == 8 ? recentConsensusHash(height: height, consensus: consensus, rng: &rng) : rng.bytes(16)
            guard let ch, let spec = transaction(sender: owner, recipient: other, opcode: NamesMachine.Opcode.transfer,
                                                 payload: [rng.chance(0.5) ? UInt8(ascii: ">") : UInt8(ascii: "~")] + ch + Array(name.utf8),
                                                 burn: 0, index: index) else { return nil }
            touched.insert(name)
            if kind == 8 {
                expect("accepted:>")
                names[name]!.owner = other
            } else {
                expect("rejected:stale consensus hash")
            }
            return spec
        case 10:  // revoke
            guard let name = live.first(where: { !names[$0]!.revoked && funded(names[$0]!.owner) }) else { return nil }
            guard let spec = transaction(sender: names[name]!.owner, recipient: names[name]!.owner, opcode: NamesMachine.Opcode.revoke,
                                         payload: Array(name.utf8), burn: 0, index: index) else { return nil }
            touched.insert(name)
            expect("accepted:~")
            names[name]!.revoked = true
            return spec
        case 11:  // renew by the owner
            guard let name = live.first(where: { !names[$0]!.revoked && funded(names[$0]!.owner) }) else { return nil }
            let owner = names[name]!.owner
            guard let spec = transaction(sender: owner, recipient: owner, opcode: NamesMachine.Opcode.register,
                                         payload: Array(name.utf8), burn: 0, index: index) else { return nil }
            touched.insert(name)
            expect("accepted::")
            names[name]!.expiresAt = height + NamesMachine.registrationLifetime
            return spec
        case 13:  // another actor preorders a live name: its register will be a duplicate
            guard let ch = recentConsensusHash(height: height, consensus: consensus, rng: &rng),
                  let name = live.first(where: { names[$0]!.owner != sender }) else { return nil }
            let hash = NamesMachine.preorderHash(name: name, sender: script(sender), recipient: script(other))
            let key = Hex.encode(hash)
            guard preorders[key] == nil else { return nil }
            guard let spec = transaction(sender: sender, recipient: other, opcode: NamesMachine.Opcode.preorder, payload: hash + ch,
                                         burn: NamesMachine.price(name: name), index: index) else { return nil }
            preorders[key] = Preorder(name: name, sender: sender, recipient: other, height: height, burned: NamesMachine.price(name: name), intent: .duplicate)
            preorderOrder.append(key)
            touched.insert(name)
            expect("accepted:?")
            return spec
        default:  // malformed: a name the spec does not allow
            guard let spec = transaction(sender: sender, recipient: other, opcode: NamesMachine.Opcode.register,
                                         payload: Array("Not-A-Name!".utf8), burn: 0, index: index) else { return nil }
            expect("dropped")
            return spec
        }
    }
}
