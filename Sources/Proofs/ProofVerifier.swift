import BitcoinWire
import ConsensusHashing

/// What the client knows besides its trusted hash, to compare with the proof's claims. Every
/// field is optional: what is not given is not checked, and what is not checked is reported as
/// unproven.
public struct ProofExpectations: Sendable {
    /// The machine's identity (`names`), the newest version of its rules the client knows, its
    /// network and its first block there.
    public var machine: String?
    public var machineVersion: Int?
    public var network: String?
    public var firstBlock: Int?
    /// The machine's magic, to check the operation the Bitcoin transaction carries (step 5).
    public var magic: [UInt8]?
    /// Where the machine's records carry height and vtxindex (step 6).
    public var recordFields: RecordPositionFields?
    /// The network's BIP34 height: from it on a coinbase binds its block's height (step 5).
    public var bip34Height: Int?
    /// Refuse a proof whose height nothing binds.
    public var requireHeight = false

    public init(machine: String? = nil, machineVersion: Int? = nil, network: String? = nil, firstBlock: Int? = nil,
                magic: [UInt8]? = nil, recordFields: RecordPositionFields? = nil, bip34Height: Int? = nil, requireHeight: Bool = false) {
        self.machine = machine
        self.machineVersion = machineVersion
        self.network = network
        self.firstBlock = firstBlock
        self.magic = magic
        self.recordFields = recordFields
        self.bip34Height = bip34Height
        self.requireHeight = requireHeight
    }
}

/// Checks a proof against one consensus hash the client trusts, step by step as docs/proofs.md
/// numbers them. Needs no state, no blocks and no engine.
public enum ProofVerifier {
    /// Hops a proof may have at most: each hop at least halves the distance that remains, so a
    /// chain of 2^62 blocks needs fewer.
    public static let maxHops = 64

    /// Checks `proof` against what the client trusts.
    ///
    /// - Parameters:
    ///   - proof: the proof to check.
    ///   - trustedHeight: the height of the consensus hash the client trusts (never the proof's claim).
    ///   - trustedConsensusHash: the consensus hash the client trusts at that height.
    ///   - expected: what else the client knows (machine, network, magic, record fields).
    /// - Returns: the record proven, with what was proven about it and what was not.
    public static func verify(_ proof: Proof, trustedHeight: Int, trustedConsensusHash: String,
                              expecting expected: ProofExpectations) throws(ProofError) -> ProvenRecord {
        // 1. The trusted hash is the client's, the format known, and the machine, network and
        //    first block the ones the client expects (where it said).
        guard proof.format == Proof.format1 else { throw ProofError(step: 1, "unknown format '\(proof.format)'") }
        let trustedHash = trustedConsensusHash.lowercased()
        guard proof.trusted.height == trustedHeight, proof.trusted.consensusHash.lowercased() == trustedHash else {
            throw ProofError(step: 1, "the proof trusts height \(proof.trusted.height), consensus hash \(proof.trusted.consensusHash); the client trusts height \(trustedHeight), consensus hash \(trustedHash)")
        }
        var checked: [String] = []
        if let machine = expected.machine {
            guard proof.machine == machine else { throw ProofError(step: 1, "a proof for machine \(proof.machine), not \(machine)") }
            checked.append("machine")
        }
        if let version = expected.machineVersion, proof.machineVersion > version {
            throw ProofError(step: 1, "a proof for version \(proof.machineVersion) of \(proof.machine)'s rules; this verifier knows up to \(version)")
        }
        if let network = expected.network {
            guard proof.network == network else { throw ProofError(step: 1, "a proof for \(proof.network), not \(network)") }
            checked.append("network")
        }
        if let firstBlock = expected.firstBlock {
            guard proof.firstBlock == firstBlock else { throw ProofError(step: 1, "a proof whose first block is \(proof.firstBlock), not \(firstBlock)") }
            checked.append("first_block")
        }
        // 2. Each hop recomputes a trusted hash and reveals the ones of its skip list; a height
        //    revealed twice must be revealed with one value.
        guard !proof.hops.isEmpty, proof.hops.count <= maxHops else { throw ProofError(step: 2, "\(proof.hops.count) hops (1 to \(maxHops))") }
        var trusted: [Int: String] = [trustedHeight: trustedHash]
        for (i, hop) in proof.hops.enumerated() {
            guard let expectedHash = trusted[hop.height] else { throw ProofError(step: 2, "hop \(i) at height \(hop.height), which no earlier hop revealed") }
            let heights = ConsensusHash.skipListHeights(height: hop.height, firstBlock: proof.firstBlock)
            guard hop.previous.count == heights.count else {
                throw ProofError(step: 2, "hop \(i) at height \(hop.height) reveals \(hop.previous.count) hashes, its skip list has \(heights.count)")
            }
            guard isHex(hop.opsHash, bytes: 32), hop.previous.allSatisfy({ isHex($0, bytes: ConsensusHash.consensusHashSize) }) else {
                throw ProofError(step: 2, "hop \(i) at height \(hop.height) holds a hash that is not hex of the right length")
            }
            let computed = ConsensusHash.consensusHash(opsHash: hop.opsHash.lowercased(), previous: hop.previous.map { $0.lowercased() })
            guard computed == expectedHash else {
                throw ProofError(step: 2, "hop \(i) at height \(hop.height) gives consensus hash \(computed), not the trusted \(expectedHash)")
            }
            for (height, hash) in zip(heights, hop.previous.map { $0.lowercased() }) {
                if let known = trusted[height], known != hash {
                    throw ProofError(step: 2, "hop \(i) reveals \(hash) for height \(height), already revealed as \(known)")
                }
                trusted[height] = hash
            }
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
        // 5. Without the Bitcoin part nothing proves a txid; with it, the transaction, its place
        //    in its block, the block's proof of work, and the coinbase's height.
        var boundBy: [String] = []
        var provenTxid: String?
        if let bitcoin = proof.bitcoin {
            if expected.magic != nil { checked.append("magic") }
            let coinbaseBinds = try verifyBitcoin(bitcoin, txid: proof.txid, record: record, magic: expected.magic,
                                                  height: proof.block.height, bip34Height: expected.bip34Height)
            if coinbaseBinds { boundBy.append("coinbase") }
            provenTxid = proof.txid?.lowercased()
        } else if let txid = proof.txid {
            throw ProofError(step: 5, "the proof names transaction \(txid) but has no Bitcoin part to prove it (txid must be null)")
        }
        // 6. Height and vtxindex fields the machine's records carry must say the same.
        if let fields = expected.recordFields, let values = recordFields(record) {
            if values.indices.contains(fields.height) {
                guard values[fields.height] == String(proof.block.height) else {
                    throw ProofError(step: 6, "the record says height \(values[fields.height]), the proof \(proof.block.height)")
                }
                boundBy.append("record")
            }
            if let vtxindex = fields.vtxindex, let bitcoin = proof.bitcoin, values.indices.contains(vtxindex) {
                guard values[vtxindex] == String(bitcoin.txIndex) else {
                    throw ProofError(step: 6, "the record says vtxindex \(values[vtxindex]), the Bitcoin part \(bitcoin.txIndex)")
                }
            }
        }
        if expected.requireHeight && boundBy.isEmpty {
            throw ProofError(step: 6, "nothing binds the height \(proof.block.height): no coinbase at or above the BIP34 height, no height field in the record")
        }
        return ProvenRecord(record: record, height: proof.block.height, heightBoundBy: boundBy, txid: provenTxid,
                            machine: proof.machine, network: proof.network, firstBlock: proof.firstBlock, checked: checked)
    }

    /// The field values of a serialized record (`opcode ":" len ":" value "," ...`), or nil where
    /// it is not of that form.
    public static func recordFields(_ record: String) -> [String]? {
        let bytes = Array(record.utf8)
        guard bytes.count >= 2, bytes[1] == UInt8(ascii: ":") else { return nil }
        var values: [String] = []
        var i = 2
        while i < bytes.count {
            var length = 0
            while i < bytes.count, bytes[i] != UInt8(ascii: ":") {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]), length < Int.max / 10 - 10 else { return nil }
                length = length * 10 + Int(bytes[i] - UInt8(ascii: "0"))
                i += 1
            }
            guard i < bytes.count, length <= bytes.count - i - 1 else { return nil }
            values.append(String(decoding: bytes[(i + 1)..<(i + 1 + length)], as: UTF8.self))
            i += 1 + length
            if i < bytes.count {
                guard bytes[i] == UInt8(ascii: ","), i + 1 < bytes.count else { return nil }
                i += 1
            }
        }
        return values
    }

    /// Step 5 with a Bitcoin part; returns whether the coinbase bound the block's height.
    static func verifyBitcoin(_ bitcoin: Proof.Bitcoin, txid: String?, record: String, magic: [UInt8]?,
                              height: Int, bip34Height: Int?) throws(ProofError) -> Bool {
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
        let merkleRoot = header.merkleRoot
        let node = try fold(hash.rawHash, branch: bitcoin.merkleBranch, index: bitcoin.txIndex, name: "merkle_branch")
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
                return "the transaction does not carry an operation with the magic and the record's opcode"
            }
            return nil
        }
        if let problem { throw ProofError(step: 5, problem) }
        return try coinbaseBindsHeight(bitcoin, merkleRoot: merkleRoot, height: height, bip34Height: bip34Height)
    }

    /// `hash` folded with `branch` by the bits of `index` (docs/proofs.md, step 5).
    static func fold(_ hash: Hash256, branch: [String], index: Int, name: String) throws(ProofError) -> Hash256 {
        guard index >= 0, branch.count <= 64, index >> branch.count == 0 else {
            throw ProofError(step: 5, "index \(index) does not fit a \(name) of \(branch.count) levels")
        }
        var node = hash
        for (level, sibling) in branch.enumerated() {
            guard let bytes = [UInt8](hex: sibling), bytes.count == 32 else { throw ProofError(step: 5, "\(name)[\(level)] is not 32 bytes of hex") }
            var a = node, b = Hash256(bytes: bytes)
            if index >> level & 1 == 1 { swap(&a, &b) }
            node = withUnsafeBytes(of: &a) { x in withUnsafeBytes(of: &b) { y in Hashes.dsha256(parts: x, y) } }
        }
        return node
    }

    /// The coinbase reaches the header's merkle root at index 0; from the BIP34 height on, its
    /// first input's script must start with the push of `height`. Whether it bound the height.
    static func coinbaseBindsHeight(_ bitcoin: Proof.Bitcoin, merkleRoot: Hash256, height: Int, bip34Height: Int?) throws(ProofError) -> Bool {
        guard let coinbaseHex = bitcoin.coinbase else { return false }
        guard let coinbase = [UInt8](hex: coinbaseHex), !coinbase.isEmpty else { throw ProofError(step: 5, "coinbase is not hex") }
        let root = try fold(Hashes.dsha256(coinbase), branch: bitcoin.coinbaseBranch ?? [], index: 0, name: "coinbase_branch")
        guard root == merkleRoot else { throw ProofError(step: 5, "the coinbase branch gives root \(root), the header holds \(merkleRoot)") }
        let scriptSig: [UInt8]? = coinbase.withUnsafeBytes { raw -> [UInt8]? in
            var cursor = ByteCursor(raw)
            guard let view = try? TransactionView.parse(from: &cursor), cursor.isAtEnd, !view.hasWitness,
                  let input = view.inputs().first, view.inputCount == 1, input.isCoinbase else { return nil }
            return Array(input.scriptSig)
        }
        guard let scriptSig else { throw ProofError(step: 5, "coinbase is not a coinbase transaction without witness data") }
        guard let bip34Height, height >= bip34Height else { return false }
        guard scriptSig.starts(with: Script.pushNumber(Int64(height))) else {
            throw ProofError(step: 5, "the coinbase does not start with the height \(height) (BIP34): the block is at another height")
        }
        return true
    }

    static func isHex(_ text: String, bytes: Int) -> Bool {
        text.utf8.count == 2 * bytes && [UInt8](hex: text) != nil
    }
}
