import CSHA256
/// A zero-copy view of a serialized block: header plus transaction views.
public struct BlockView {
    public let bytes: UnsafeRawBufferPointer
    public let header: BlockHeader
    public let transactions: [TransactionView]

    /// Smallest possible transaction: a tx-count claim above remaining / this is rejected up front.
    public static let minTransactionSize = 10

    /// Parses a whole block; the bytes must end exactly where the last transaction ends.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> BlockView {
        var cursor = ByteCursor(bytes)
        let header = try BlockHeader(from: &cursor)
        let countOffset = cursor.position
        let count = try cursor.readCount(of: "transaction", minItemSize: minTransactionSize)
        if count == 0 { throw WireError(.invalid("block without transactions"), at: countOffset) }
        var transactions: [TransactionView] = []
        transactions.reserveCapacity(count)
        for i in 0..<count {
            do {
                transactions.append(try TransactionView.parse(from: &cursor))
            } catch {
                // Name the transaction: the block's offset alone does not say which one.
                guard case let .invalid(message) = error.kind else { throw error }
                throw WireError(.invalid("transaction \(i): \(message)"), at: error.offset)
            }
        }
        if !cursor.isAtEnd {
            throw WireError(.invalid("\(cursor.remaining) trailing bytes after the last transaction"), at: cursor.position)
        }
        return BlockView(bytes: bytes, header: header, transactions: transactions)
    }

    public var hash: BlockHash { BlockHeader.hash(of: bytes.baseAddress!) }

    /// The transactions' ids, in order: hashed two at a time where the CPU has the SHA
    /// extensions (two interleaved streams compress about 1.4 times as fast as OpenSSL's one; a
    /// lane whose transaction is done takes the next, so the lanes stay paired).
    public func txids() -> [Txid] {
        let count = transactions.count
        guard Hashes.usesSHAExtensions, count > 1 else { return transactions.map { $0.txid() } }
        return [Txid](unsafeUninitializedCapacity: count) { ids, initialized in
            withUnsafeTemporaryAllocation(of: vc_message.self, capacity: count) { messages in
                for (i, tx) in transactions.enumerated() { messages[i] = tx.txidMessage }
                // Txid is its 32 bytes, so the digests are written straight into the array.
                vc_sha256d_messages(messages.baseAddress!, count, UnsafeMutableRawPointer(ids.baseAddress!).assumingMemoryBound(to: UInt8.self))
            }
            initialized = count
        }
    }

    /// The witness merkle tree's leaves (BIP141): zero for the coinbase, each other transaction's
    /// wtxid, which is its txid (from `txids`, not hashed again) where it has no witness data.
    /// Transactions with witness data are double-hashed two at a time, as `txids()` does.
    public func wtxidLeaves(txids: [Txid]) -> [Hash256] {
        let count = transactions.count
        var leaves = [Hash256](repeating: .zero, count: count)
        var witnessed: [Int] = []
        for i in 1..<max(1, count) {
            if transactions[i].hasWitness { witnessed.append(i) } else { leaves[i] = txids[i].rawHash }
        }
        guard !witnessed.isEmpty else { return leaves }
        guard Hashes.usesSHAExtensions, witnessed.count > 1 else {
            for i in witnessed { leaves[i] = transactions[i].wtxid().rawHash }
            return leaves
        }
        withUnsafeTemporaryAllocation(of: vc_message.self, capacity: witnessed.count) { messages in
            withUnsafeTemporaryAllocation(of: Hash256.self, capacity: witnessed.count) { digests in
                for (j, i) in witnessed.enumerated() {
                    let bytes = transactions[i].bytes
                    messages[j] = vc_message(part: (bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), nil, nil), length: (bytes.count, 0, 0))
                }
                // Hash256 is its 32 bytes: the digests are written in place.
                vc_sha256d_messages(messages.baseAddress!, witnessed.count, UnsafeMutableRawPointer(digests.baseAddress!).assumingMemoryBound(to: UInt8.self))
                for (j, i) in witnessed.enumerated() { leaves[i] = digests[j] }
            }
        }
        return leaves
    }

    /// Offset of transaction `index` within the block.
    public func offset(ofTransaction index: Int) -> Int {
        transactions[index].bytes.baseAddress! - bytes.baseAddress!
    }

    /// Checks what Bitcoin Core checks of a block's structure, at the height `rules` were made for:
    /// the merkle root against the header (rejecting CVE-2012-2459 duplicate lists) at every
    /// height; from the rules' heights on, the header version, the BIP34 coinbase height, and the
    /// BIP141 witness commitment (where the coinbase commits, it must match the wtxids). Where no
    /// valid commitment applies (before segwit, or no commitment output) no transaction may carry
    /// witness data, as in Core's `ContextualCheckBlock`; with `.contextFree` the contextual checks
    /// are all skipped.
    ///
    /// `witnessCommitment: false` leaves the witness commitment unchecked (a reader to which no
    /// witness byte of this block matters); witness data without a commitment is still refused.
    public func verify(txids precomputed: [Txid]? = nil, rules: BlockRules, witnessCommitment: Bool = true) throws(WireError) {
        let txids = precomputed ?? self.txids()
        let (root, mutated) = Merkle.root(txids)
        if mutated { throw WireError(.invalid("duplicate transactions in merkle tree (CVE-2012-2459)"), at: 36) }
        if root != header.merkleRoot {
            throw WireError(.invalid("merkle root \(root) does not match the header's \(header.merkleRoot)"), at: 36)
        }
        guard let height = rules.height else { return }
        if header.version < rules.minimumVersion {
            throw WireError(.invalid("block version \(header.version) is below \(rules.minimumVersion), the lowest Core accepts at height \(height) (bad-version)"), at: 0)
        }
        let coinbaseOffset = offset(ofTransaction: 0)
        if rules.coinbaseHeight && !coinbaseStartsWithHeight(height) {
            throw WireError(.invalid("the coinbase does not start with its height \(height) (BIP34, bad-cb-height)"), at: coinbaseOffset)
        }
        if rules.segwit, let commitment = self.witnessCommitment() {
            guard witnessCommitment else { return }
            let coinbase = transactions[0]
            let witness = coinbase.witnesses()
            guard witness.count == 1, witness[0].count == 1, witness[0][0].count == 32 else {
                throw WireError(.invalid("coinbase witness must be one 32-byte reserved value (bad-witness-nonce-size)"), at: coinbaseOffset)
            }
            var witnessRoot = Merkle.root(wtxidLeaves(txids: txids)).root
            let expected = withUnsafeBytes(of: &witnessRoot) { rootBytes in Hashes.dsha256(parts: rootBytes, witness[0][0]) }
            if !expected.withUnsafeBytes({ $0.elementsEqual(commitment) }) {
                throw WireError(.invalid("witness commitment does not match the transactions (bad-witness-merkle-match)"), at: coinbaseOffset)
            }
            return
        }
        if let index = transactions.firstIndex(where: \.hasWitness) {
            let why = rules.segwit ? "without a witness commitment" : "before segwit is active at height \(height)"
            throw WireError(.invalid("witness data \(why) (unexpected-witness)"), at: offset(ofTransaction: index))
        }
    }

    /// Size of a witness commitment output script: OP_RETURN, a 36-byte push of the 4-byte header
    /// and the 32-byte commitment (`MINIMUM_WITNESS_COMMITMENT`).
    public static let witnessCommitmentScriptSize = 38

    /// The commitment of the coinbase's last witness-commitment output (Core's
    /// `GetWitnessCommitmentIndex`: the last one counts), if any.
    public func witnessCommitment() -> UnsafeRawBufferPointer? {
        var commitment: UnsafeRawBufferPointer?
        for output in transactions[0].outputs() {
            let s = output.scriptPubKey
            if s.count >= Self.witnessCommitmentScriptSize && s[0] == Opcode.opReturn && s[1] == 0x24
                && s[2] == 0xaa && s[3] == 0x21 && s[4] == 0xa9 && s[5] == 0xed {
                commitment = UnsafeRawBufferPointer(rebasing: s[6..<38])
            }
        }
        return commitment
    }

    /// Whether the coinbase's scriptSig starts with `CScript() << height`, byte for byte (BIP34).
    public func coinbaseStartsWithHeight(_ height: Int) -> Bool {
        guard let input = transactions.first?.inputs().first else { return false }
        let expected = Script.pushNumber(Int64(height))
        return input.scriptSig.count >= expected.count && input.scriptSig.prefix(expected.count).elementsEqual(expected)
    }

    /// The height the coinbase's scriptSig starts with, read as BIP34 writes it (`CScript() << h`:
    /// OP_0, OP_1...OP_16, or a minimal non-negative number push of up to 5 bytes), if it starts with
    /// one. Before BIP34 the first push was arbitrary (an extra nonce, a time), so what this returns
    /// is a height only where the block is known to follow BIP34.
    public var coinbaseHeight: Int? {
        guard let input = transactions.first?.inputs().first else { return nil }
        let s = input.scriptSig
        guard s.count >= 1 else { return nil }
        let op = s[0]
        let value: Int
        if op == Opcode.op0 {
            value = 0
        } else if (Opcode.op1..<(Opcode.op1 + 16)).contains(op) {
            value = Int(op - Opcode.op1 + 1)
        } else if (1...Self.maxCoinbaseHeightPush).contains(Int(op)), s.count >= 1 + Int(op) {
            var number = 0
            for i in 0..<Int(op) { number |= Int(s[1 + i]) << (8 * i) }
            if s[Int(op)] & 0x80 != 0 { return nil }  // a negative CScriptNum is no height
            value = number
        } else {
            return nil
        }
        // Only the canonical encoding counts, as Core compares the exact bytes.
        return coinbaseStartsWithHeight(value) ? value : nil
    }

    /// Longest number push a BIP34 height takes (CScriptNum of a 32-bit height: 5 bytes).
    public static let maxCoinbaseHeightPush = 5
}
