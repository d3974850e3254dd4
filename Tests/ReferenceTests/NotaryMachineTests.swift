import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import Reference
@testable import Virtualchain

/// The reference machine's rules, one block at a time with hand-made candidates: a 32-byte
/// payload with a resolved sender stamps its hash once; the first stamp wins.
@Suite struct NotaryMachineTests {
    let alice = Script.p2wpkh([UInt8](repeating: 0xa1, count: 20))
    let bob = Script.p2wpkh([UInt8](repeating: 0xb0, count: 20))

    func candidate(_ payload: [UInt8], sender: [UInt8]?, height: Int, vtxindex: Int) -> Candidate {
        Candidate(height: height, blockHash: BlockHash(Hashes.sha256([UInt8(height)])), txid: Txid(Hashes.sha256([UInt8(vtxindex), UInt8(height)])),
                  vtxindex: vtxindex, opcode: UInt8(ascii: "s"), payload: payload,
                  outputs: [TxOut(value: 0, scriptPubKey: Script.nullData(Array("vcs".utf8) + payload))],
                  senders: sender.map { .resolved([Sender(scriptPubKey: $0, value: 10_000)]) } ?? .unresolved, fee: nil)
    }

    @Test func theFirstStampOfAHashWinsAndBadOnesAreRefused() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let engine = try Engine(machine: NotaryMachine(), stateDirectory: directory.path, network: .regtest)
        let hash = [UInt8](repeating: 0x42, count: 32)
        // Block 1: alice stamps the hash; bob's stamp of it in the same block comes second.
        let first = try engine.commitBlock(height: 1, hash: BlockHash(Hashes.sha256([1])), candidates: [
            candidate(hash, sender: alice, height: 1, vtxindex: 1),
            candidate(hash, sender: bob, height: 1, vtxindex: 2),
            candidate([UInt8](repeating: 7, count: 31), sender: alice, height: 1, vtxindex: 3),  // not 32 bytes: not an operation
            candidate([UInt8](repeating: 8, count: 32), sender: nil, height: 1, vtxindex: 4),
        ])
        #expect(first.accepted == 1 && first.rejected == 2 && first.dropped == 1)
        // Block 2: stamping it again is refused.
        let second = try engine.commitBlock(height: 2, hash: BlockHash(Hashes.sha256([2])), candidates: [candidate(hash, sender: bob, height: 2, vtxindex: 1)])
        #expect(second.accepted == 0 && second.rejected == 1)
        try engine.commitPendingBlocks()
        let rows = try engine.store.database.run("SELECT hash, sender, height, vtxindex FROM stamps")
        #expect(rows.count == 1)
        #expect(rows.first?[1].string == Hex.encode(alice) && rows.first?[2].int == 1 && rows.first?[3].int == 1)
        // The record the consensus hash covers: the stamp's fields.
        let records = try engine.store.records(atHeight: 1)
        #expect(records.map(\.serialized) == [ConsensusRecord(opcode: UInt8(ascii: "s"), fields: [.text(Hex.encode(hash)), .text(Hex.encode(alice)), .integer(1), .integer(1)]).serializedString])
    }
}
