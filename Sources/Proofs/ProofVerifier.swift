import BitcoinWire
import ConsensusHashing

/// Checks a proof against one consensus hash the client trusts, step by step as the spec
/// (`proofs.md`, "Verification") numbers them. Needs no state, no blocks and no engine.
public enum ProofVerifier {
    /// Hops a proof may have at most: each hop at least halves the distance that remains, so a
    /// chain of 2^62 blocks needs fewer.
    public static let maxHops = 64

    /// Checks `proof` against what the client trusts, step by step as `proofs.md` numbers them.
    ///
    /// - Parameters:
    ///   - proof: the proof to check.
    ///   - trustedHeight: the height of the consensus hash the client trusts (never the proof's claim).
    ///   - trustedConsensusHash: the consensus hash the client trusts at that height.
    ///   - magic: the machine's magic, to check the Bitcoin transaction's operation (step 5).
    /// - Returns: the record the proof proves, with where it was made.
    public static func verify(_ proof: Proof, trustedHeight: Int, trustedConsensusHash: String, magic: [UInt8]?) throws(ProofError) -> ProvenRecord {
        // 1. The trusted hash is the client's, and the format known.
        guard proof.format == Proof.format1 else { throw ProofError(step: 1, "unknown format '\(proof.format)'") }
        let trustedHash = trustedConsensusHash.lowercased()
        guard proof.trusted.height == trustedHeight, proof.trusted.consensusHash.lowercased() == trustedHash else {
            throw ProofError(step: 1, "the proof trusts height \(proof.trusted.height), consensus hash \(proof.trusted.consensusHash); the client trusts height \(trustedHeight), consensus hash \(trustedHash)")
        }
        // 2. Each hop recomputes a trusted hash and reveals the ones of its skip list.
        guard !proof.hops.isEmpty, proof.hops.count <= maxHops else { throw ProofError(step: 2, "\(proof.hops.count) hops (1 to \(maxHops))") }
        var trusted: [Int: String] = [trustedHeight: trustedHash]
        for (i, hop) in proof.hops.enumerated() {
            guard let expected = trusted[hop.height] else { throw ProofError(step: 2, "hop \(i) at height \(hop.height), which no earlier hop revealed") }
            let heights = ConsensusHash.skipListHeights(height: hop.height, firstBlock: proof.firstBlock)
            guard hop.previous.count == heights.count else {
                throw ProofError(step: 2, "hop \(i) at height \(hop.height) reveals \(hop.previous.count) hashes, its skip list has \(heights.count)")
            }
            guard isHex(hop.opsHash, bytes: 32), hop.previous.allSatisfy({ isHex($0, bytes: ConsensusHash.consensusHashSize) }) else {
                throw ProofError(step: 2, "hop \(i) at height \(hop.height) holds a hash that is not hex of the right length")
            }
            let computed = ConsensusHash.consensusHash(opsHash: hop.opsHash.lowercased(), previous: hop.previous.map { $0.lowercased() })
            guard computed == expected else {
                throw ProofError(step: 2, "hop \(i) at height \(hop.height) gives consensus hash \(computed), not the trusted \(expected)")
            }
            for (height, hash) in zip(heights, hop.previous) { trusted[height] = hash.lowercased() }
        }
        // 3. The last hop is the block, and the block's records hash to its ops hash.
        let last = proof.hops[proof.hops.count - 1]
        guard last.height == proof.block.height else { throw ProofError(step: 3, "the last hop is at height \(last.height), the block at \(proof.block.height)") }
        let opsHash = ConsensusHash.opsHash(serialized: proof.block.records.map { Array($0.utf8) })
        guard opsHash == last.opsHash.lowercased() else { throw ProofError(step: 3, "the block's records hash to \(opsHash), not the hop's ops hash \(last.opsHash)") }
        // 4. The record proven.
        guard proof.block.records.indices.contains(proof.recordIndex) else {
            throw ProofError(step: 4, "record_index \(proof.recordIndex) is not one of the block's \(proof.block.records.count) records")
        }
        let record = proof.block.records[proof.recordIndex]
        // 5. The Bitcoin transaction, its place in its block, the block's proof of work.
        if let bitcoin = proof.bitcoin {
            try verifyBitcoin(bitcoin, txid: proof.txid, record: record, magic: magic)
        }
        return ProvenRecord(height: proof.block.height, record: record, txid: proof.txid)
    }

    static func verifyBitcoin(_ bitcoin: Proof.Bitcoin, txid: String?, record: String, magic: [UInt8]?) throws(ProofError) {
        guard let headerBytes = [UInt8](hex: bitcoin.blockHeader), headerBytes.count == BlockHeader.size,
              let header = headerBytes.withUnsafeBytes({ raw -> BlockHeader? in
                  var cursor = ByteCursor(raw)
                  return try? BlockHeader(from: &cursor)
              }) else {
            throw ProofError(step: 5, "block_header is not 80 bytes of hex")
        }
        guard let tx = [UInt8](hex: bitcoin.tx), !tx.isEmpty else { throw ProofError(step: 5, "tx is not hex") }
        guard let txid, let claimed = Txid(displayHex: txid) else { throw ProofError(step: 5, "a Bitcoin part needs the record's txid") }
        let hash = Txid(Hashes.dsha256(tx))
        guard hash == claimed else { throw ProofError(step: 5, "the transaction hashes to \(hash), not the txid \(txid)") }
        guard bitcoin.txIndex >= 0, bitcoin.merkleBranch.count <= 64, bitcoin.txIndex >> bitcoin.merkleBranch.count == 0 else {
            throw ProofError(step: 5, "tx_index \(bitcoin.txIndex) does not fit a branch of \(bitcoin.merkleBranch.count) levels")
        }
        var node = hash.rawHash
        for (level, sibling) in bitcoin.merkleBranch.enumerated() {
            guard let bytes = [UInt8](hex: sibling), bytes.count == 32 else { throw ProofError(step: 5, "merkle_branch[\(level)] is not 32 bytes of hex") }
            let other = Hash256(bytes: bytes)
            var a = node, b = other
            if bitcoin.txIndex >> level & 1 == 1 { swap(&a, &b) }
            node = withUnsafeBytes(of: &a) { x in withUnsafeBytes(of: &b) { y in Hashes.dsha256(parts: x, y) } }
        }
        let merkleRoot = header.merkleRoot
        guard node == merkleRoot else { throw ProofError(step: 5, "the merkle branch gives root \(node), the header holds \(merkleRoot)") }
        let blockHash = headerBytes.withUnsafeBytes { BlockHeader.hash(of: $0.baseAddress!) }
        let bits = header.bits
        guard ProofOfWork.check(hash: blockHash, bits: bits) else { throw ProofError(step: 5, "the header \(blockHash) fails its own proof of work") }
        // The transaction's last nulldata output carries the magic and the record's opcode.
        guard let magic else { throw ProofError(step: 5, "the machine's magic is unknown: cannot check the transaction's operation") }
        let opcode = record.utf8.first
        // The view borrows `tx`'s bytes: everything is checked inside the borrow.
        let problem: String? = tx.withUnsafeBytes { raw -> String? in
            var cursor = ByteCursor(raw)
            let view: TransactionView
            do throws(WireError) {
                view = try TransactionView.parse(from: &cursor)
            } catch {
                return "the transaction does not parse: \(error)"
            }
            guard cursor.isAtEnd else { return "the transaction has \(cursor.remaining) trailing bytes" }
            guard !view.hasWitness else { return "the transaction must be given without witness data" }
            guard let opcode, OperationFilter(magic: magic, opcodes: [opcode]).operation(in: view) != nil else {
                return "the transaction's last nulldata output does not carry the magic and the record's opcode"
            }
            return nil
        }
        if let problem { throw ProofError(step: 5, problem) }
    }

    static func isHex(_ text: String, bytes: Int) -> Bool {
        text.utf8.count == 2 * bytes && [UInt8](hex: text) != nil
    }
}
