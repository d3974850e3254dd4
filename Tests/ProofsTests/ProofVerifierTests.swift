import Testing
@testable import BitcoinWire
@testable import ConsensusHashing
@testable import Proofs

/// The verifier alone, as a light client runs it: a history of consensus hashes computed here
/// from the definition (no engine, no state, no blocks), proofs made from it by hand, checked,
/// and refused when any part of them is changed.
@Suite struct ProofVerifierTests {
    static let firstBlock = 10, tip = 300, target = 123
    static let records = ["?:6:foo.id,3:123,1:4", "+:6:bar.id,3:123,1:9"]

    /// Consensus and ops hashes of heights firstBlock...tip; the target block holds `records`.
    struct History {
        var consensus: [Int: String] = [:]
        var ops: [Int: String] = [:]
        init() {
            for height in ProofVerifierTests.firstBlock...ProofVerifierTests.tip {
                let serialized = height == ProofVerifierTests.target ? ProofVerifierTests.records.map { Array($0.utf8) } : []
                ops[height] = ConsensusHash.opsHash(serialized: serialized)
                let previous = ConsensusHash.skipListHeights(height: height, firstBlock: ProofVerifierTests.firstBlock).map { consensus[$0]! }
                consensus[height] = ConsensusHash.consensusHash(opsHash: ops[height]!, previous: previous)
            }
        }
    }
    static let history = History()

    /// Hops from the tip down to `target`, each to the lowest revealed height still at or above it.
    func proof(target: Int = ProofVerifierTests.target, records: [String] = ProofVerifierTests.records) -> Proof {
        let h = Self.history
        var hops: [Proof.Hop] = []
        var current = Self.tip
        while true {
            let heights = ConsensusHash.skipListHeights(height: current, firstBlock: Self.firstBlock)
            hops.append(Proof.Hop(height: current, opsHash: h.ops[current]!, previous: heights.map { h.consensus[$0]! }))
            if current == target { break }
            current = heights.filter { $0 >= target }.min()!
        }
        return Proof(machine: "names", machineVersion: 1, network: "regtest", firstBlock: Self.firstBlock,
                     trusted: Proof.Trusted(height: Self.tip, consensusHash: h.consensus[Self.tip]!), hops: hops,
                     block: Proof.Block(height: target, records: records), recordIndex: 1, txid: nil, bitcoin: nil)
    }

    func verify(_ proof: Proof, _ expected: ProofExpectations = ProofExpectations()) throws(ProofError) -> ProvenRecord {
        try ProofVerifier.verify(proof, trustedHeight: Self.tip, trustedConsensusHash: Self.history.consensus[Self.tip]!, expecting: expected)
    }

    @Test func aProofOfTheHistoryIsVerifiedAndSaysWhatItProved() throws {
        let proven = try verify(proof())
        #expect(proven.record == Self.records[1])
        // Nothing binds the height (no Bitcoin part, no record fields given): unproven.
        #expect(!proven.heightProven && proven.height == Self.target)
        #expect(proven.txid == nil && proven.checked.isEmpty)
        // The machine's height field binds it.
        let bound = try verify(proof(), ProofExpectations(machine: "names", network: "regtest", firstBlock: Self.firstBlock,
                                                          recordFields: RecordPositionFields(height: 1, vtxindex: 2)))
        #expect(bound.heightBoundBy == ["record"])
        #expect(bound.checked == ["machine", "network", "first_block"])
    }

    @Test func eachChangeIsRefusedAtItsStep() {
        let good = proof()
        let tamperings: [(String, Int, (inout Proof) -> Void)] = [
            ("trusted hash", 1, { $0.trusted.consensusHash = String(repeating: "0", count: 32) }),
            ("a hop's ops hash", 2, { $0.hops[0].opsHash = String(repeating: "1", count: 64) }),
            ("a revealed hash", 2, { $0.hops[0].previous[0] = String(repeating: "2", count: 32) }),
            ("a record", 3, { $0.block.records[0] = "?:6:baz.id,3:123,1:4" }),
            ("a record added", 3, { $0.block.records.append("x") }),
            ("the record index", 4, { $0.recordIndex = 2 }),
            ("no hops", 2, { $0.hops = [] }),
        ]
        for (what, step, change) in tamperings {
            var bad = good
            change(&bad)
            #expect(throws: ProofError.self, "\(what)") { try verify(bad) }
            do { _ = try verify(bad) } catch { #expect(error.step == step, "\(what): \(error)") }
        }
        // Expected machine, network or first block that differ.
        for expected in [ProofExpectations(machine: "other"), ProofExpectations(network: "mainnet"), ProofExpectations(firstBlock: 11)] {
            #expect(throws: ProofError.self) { try verify(good, expected) }
        }
        // A height the record's own field contradicts (the block relabelled).
        #expect(throws: ProofError.self) {
            try verify(proof(records: ["?:6:foo.id,3:124,1:4", "+:6:bar.id,3:124,1:9"]), ProofExpectations(recordFields: RecordPositionFields(height: 1, vtxindex: 2)))
        }
    }

    @Test func aProofSurvivesItsJSONAndGarbageDoesNotParse() throws {
        let json = try proof().json()
        #expect(try Proof.parse(Array(json.utf8)) == proof())
        for garbage in ["", "{}", "[]", "null", String(json.dropLast(5))] {
            #expect(throws: ProofError.self, "\(garbage.prefix(20))") { try Proof.parse(Array(garbage.utf8)) }
        }
    }
}
