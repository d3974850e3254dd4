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
        for _ in 0..<count {
            transactions.append(try TransactionView.parse(from: &cursor))
        }
        if !cursor.isAtEnd {
            throw WireError(.invalid("\(cursor.remaining) trailing bytes after the last transaction"), at: cursor.position)
        }
        return BlockView(bytes: bytes, header: header, transactions: transactions)
    }

    public var hash: Hash256 { BlockHeader.hash(of: bytes.baseAddress!) }

    public func txids() -> [Hash256] { transactions.map { $0.txid() } }

    /// Offset of transaction `index` within the block.
    public func offset(ofTransaction index: Int) -> Int {
        transactions[index].bytes.baseAddress! - bytes.baseAddress!
    }

    /// Checks the merkle root against the header (rejecting CVE-2012-2459 duplicate lists) and the
    /// BIP141 witness commitment: where the coinbase commits, it must match the transactions'
    /// wtxids; where it does not, no transaction may carry witness data.
    public func verify(txids precomputed: [Hash256]? = nil) throws(WireError) {
        let txids = precomputed ?? self.txids()
        let (root, mutated) = Merkle.root(txids)
        if mutated { throw WireError(.invalid("duplicate transactions in merkle tree (CVE-2012-2459)"), at: 36) }
        if root != header.merkleRoot {
            throw WireError(.invalid("merkle root \(root) does not match the header's \(header.merkleRoot)"), at: 36)
        }
        let coinbase = transactions[0]
        var commitment: UnsafeRawBufferPointer?
        for output in coinbase.outputs() {
            let s = output.scriptPubKey
            if s.count >= 38 && s[0] == 0x6a && s[1] == 0x24 && s[2] == 0xaa && s[3] == 0x21 && s[4] == 0xa9 && s[5] == 0xed {
                commitment = UnsafeRawBufferPointer(rebasing: s[6..<38])
            }
        }
        let coinbaseOffset = offset(ofTransaction: 0)
        guard let commitment else {
            if let index = transactions.firstIndex(where: \.hasWitness) {
                throw WireError(.invalid("witness data without a witness commitment"), at: offset(ofTransaction: index))
            }
            return
        }
        let witness = coinbase.witnesses()
        guard witness.count == 1, witness[0].count == 1, witness[0][0].count == 32 else {
            throw WireError(.invalid("coinbase witness must be one 32-byte reserved value"), at: coinbaseOffset)
        }
        var wtxids = [Hash256.zero]
        wtxids.reserveCapacity(transactions.count)
        for tx in transactions.dropFirst() { wtxids.append(tx.wtxid()) }
        let witnessRoot = Merkle.root(wtxids).root
        var rootCopy = witnessRoot
        let expected = withUnsafeBytes(of: &rootCopy) { rootBytes in Hashes.dsha256(parts: rootBytes, witness[0][0]) }
        if !expected.withUnsafeBytes({ $0.elementsEqual(commitment) }) {
            throw WireError(.invalid("witness commitment does not match the transactions"), at: coinbaseOffset)
        }
    }

    /// The BIP34 height in the coinbase's scriptSig (first push, little-endian), if it has one.
    public var coinbaseHeight: Int? {
        guard let input = transactions.first?.inputs().first else { return nil }
        let s = input.scriptSig
        guard s.count >= 1 else { return nil }
        let op = s[0]
        if op == 0 { return 0 }
        if (Opcode.op1...0x60).contains(op) { return Int(op - Opcode.op1 + 1) }
        guard (1...8).contains(Int(op)), s.count >= 1 + Int(op) else { return nil }
        var value = 0
        for i in 0..<Int(op) { value |= Int(s[1 + i]) << (8 * i) }
        return value
    }
}
