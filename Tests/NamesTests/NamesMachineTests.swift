import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import Names
@testable import Virtualchain

/// The names rules of docs/names.md, one block at a time with hand-made candidates.
@Suite struct NamesMachineTests {
    let alice = Script.p2wpkh([UInt8](repeating: 0xa1, count: 20))
    let bob = Script.p2wpkh([UInt8](repeating: 0xb0, count: 20))

    final class Harness {
        let directory: URL
        let engine: Engine<NamesMachine>
        var height = 1
        init() throws {
            directory = try TestPaths.temporaryDirectory("names")
            engine = try Engine(machine: NamesMachine(firstBlock: 1), stateDirectory: directory.path, network: .regtest)
        }
        deinit { try? FileManager.default.removeItem(at: directory) }

        /// Commits a block with these operations; returns accepted/rejected reasons in order.
        @discardableResult
        func block(_ ops: [(opcode: Character, payload: [UInt8], sender: [UInt8]?, recipient: [UInt8]?, burn: Int64)]) throws -> [String] {
            let before = Dictionary(uniqueKeysWithValues: try engine.store.counts().map { ($0.kind, $0.count) })
            let candidates = ops.enumerated().map { i, op in
                // Without a recipient, no output[1] at all (the burn, if any, would take its place).
                var outputs = [TxOut(value: 0, scriptPubKey: Script.nullData(Array("id".utf8) + [op.opcode.asciiValue!] + op.payload))]
                if let recipient = op.recipient { outputs.append(TxOut(value: 5_000, scriptPubKey: recipient)) }
                if op.burn > 0 { outputs.append(TxOut(value: op.burn, scriptPubKey: NamesMachine.burnScript)) }
                return Candidate(height: height, blockHash: BlockHash(Hashes.sha256([UInt8(truncatingIfNeeded: height)])), txid: Txid(Hashes.sha256([UInt8(i)])),
                                 vtxindex: i + 1, opcode: op.opcode.asciiValue!, payload: op.payload, outputs: outputs,
                                 senders: op.sender.map { .resolved([Sender(scriptPubKey: $0, value: 1_000_000)]) } ?? .unresolved, fee: nil)
            }
            _ = try engine.commitBlock(height: height, hash: BlockHash(Hashes.sha256([UInt8(truncatingIfNeeded: height)])), candidates: candidates)
            height += 1
            let after = Dictionary(uniqueKeysWithValues: try engine.store.counts().map { ($0.kind, $0.count) })
            return after.keys.sorted().flatMap { key in Array(repeating: key, count: after[key]! - (before[key] ?? 0)) }
        }

        var recentHash: [UInt8] { engine.consensus.last!.withUnsafeBytes { Array($0) } }

        /// Lets time pass for a name: its expiry moves to the next block (as 52,560 blocks would).
        func expire(_ name: String) throws {
            try engine.store.database.run("UPDATE names SET expires_at = ? WHERE name = ?", [SQLiteValue(height), .text(name)])
        }
    }

    func preorder(_ h: Harness, _ name: String, by sender: [UInt8], for recipient: [UInt8], burn: Int64? = nil) -> (Character, [UInt8], [UInt8]?, [UInt8]?, Int64) {
        ("?", NamesMachine.preorderHash(name: name, sender: sender, recipient: recipient) + h.recentHash, sender, recipient, burn ?? NamesMachine.price(name: name))
    }

    @Test func lifecycle() throws {
        let h = try Harness()
        try h.block([])
        #expect(try h.block([preorder(h, "alice.id", by: alice, for: alice)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("alice.id".utf8), alice, alice, 0)]) == ["accepted::"])
        #expect(try h.block([("+", [UInt8](repeating: 7, count: 20) + Array("alice.id".utf8), bob, bob, 0)]) == ["rejected:wrong sender"])
        #expect(try h.block([("+", [UInt8](repeating: 7, count: 20) + Array("alice.id".utf8), alice, alice, 0)]) == ["accepted:+"])
        // Renewal by the owner, to a new owner (output[1]).
        #expect(try h.block([(":", Array("alice.id".utf8), alice, bob, 0)]) == ["accepted::"])
        #expect(try h.block([(">", [UInt8(ascii: ">")] + h.recentHash + Array("alice.id".utf8), bob, alice, 0)]) == ["accepted:>"])
        let row = try h.engine.store.database.run("SELECT owner, value_hash FROM names WHERE name = 'alice.id'")[0]
        #expect(row[0].string == Hex.encode(alice) && row[1].string == Hex.encode([UInt8](repeating: 7, count: 20)))
    }

    /// A revoked name accepts no operation until it expires; then it is free like any other.
    @Test func aRevokedNameAcceptsNothingUntilItExpires() throws {
        let h = try Harness()
        try h.block([])
        #expect(try h.block([preorder(h, "alice.id", by: alice, for: alice)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("alice.id".utf8), alice, alice, 0)]) == ["accepted::"])
        #expect(try h.block([("~", Array("alice.id".utf8), alice, alice, 0)]) == ["accepted:~"])
        #expect(try h.block([("+", [UInt8](repeating: 8, count: 20) + Array("alice.id".utf8), alice, alice, 0)]) == ["rejected:revoked"])
        #expect(try h.block([(">", [UInt8(ascii: ">")] + h.recentHash + Array("alice.id".utf8), alice, bob, 0)]) == ["rejected:revoked"])
        #expect(try h.block([(":", Array("alice.id".utf8), alice, alice, 0)]) == ["rejected:revoked"])  // no renewal
        #expect(try h.block([("~", Array("alice.id".utf8), alice, alice, 0)]) == ["rejected:revoked"])  // no second revoke
        // Someone else's preorder and register while it is revoked: still revoked, not "taken".
        #expect(try h.block([preorder(h, "alice.id", by: bob, for: bob)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("alice.id".utf8), bob, bob, 0)]) == ["rejected:revoked"])
        // Expired: free. Bob's (second) preorder registers it, not revoked.
        try h.expire("alice.id")
        #expect(try h.block([preorder(h, "alice.id", by: bob, for: alice)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("alice.id".utf8), bob, alice, 0)]) == ["accepted::"])
        let row = try h.engine.store.database.run("SELECT owner, revoked, value_hash FROM names WHERE name = 'alice.id'")[0]
        #expect(row[0].string == Hex.encode(alice) && row[1].int == 0 && row[2] == .null)
    }

    /// Renew and transfer need output[1]; the reason counted is the first failing condition in the
    /// spec's order.
    @Test func theFirstFailingConditionIsTheReason() throws {
        let h = try Harness()
        try h.block([])
        #expect(try h.block([preorder(h, "alice.id", by: alice, for: alice)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("alice.id".utf8), alice, alice, 0)]) == ["accepted::"])
        let stale = [UInt8](repeating: 9, count: 16)
        // Renew without output[1].
        #expect(try h.block([(":", Array("alice.id".utf8), alice, nil, 0)]) == ["rejected:no recipient output"])
        // Transfer: unresolved before missing output, missing output before stale hash, stale hash
        // before wrong sender, wrong sender before the name's state.
        #expect(try h.block([(">", [UInt8(ascii: ">")] + stale + Array("alice.id".utf8), nil, nil, 0)]) == ["rejected:unresolved sender"])
        #expect(try h.block([(">", [UInt8(ascii: ">")] + stale + Array("alice.id".utf8), bob, nil, 0)]) == ["rejected:no recipient output"])
        #expect(try h.block([(">", [UInt8(ascii: ">")] + stale + Array("alice.id".utf8), bob, bob, 0)]) == ["rejected:stale consensus hash"])
        #expect(try h.block([(">", [UInt8(ascii: ">")] + h.recentHash + Array("alice.id".utf8), bob, bob, 0)]) == ["rejected:wrong sender"])
        #expect(try h.block([(">", [UInt8(ascii: ">")] + h.recentHash + Array("nobody.id".utf8), bob, bob, 0)]) == ["rejected:unregistered"])
        // Update: a wrong sender of an expired name is a wrong sender; the owner's is expired.
        try h.expire("alice.id")
        #expect(try h.block([("+", [UInt8](repeating: 1, count: 20) + Array("alice.id".utf8), bob, bob, 0)]) == ["rejected:wrong sender"])
        #expect(try h.block([("+", [UInt8](repeating: 1, count: 20) + Array("alice.id".utf8), alice, alice, 0)]) == ["rejected:expired"])
        #expect(try h.block([("~", Array("alice.id".utf8), alice, alice, 0)]) == ["rejected:expired"])
        // Register: the preorder's expiry before the name being taken, taken before unpaid.
        #expect(try h.block([preorder(h, "carol.id", by: alice, for: alice)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("carol.id".utf8), alice, alice, 0)]) == ["accepted::"])
        #expect(try h.block([preorder(h, "carol.id", by: bob, for: bob, burn: 1)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("carol.id".utf8), bob, bob, 0)]) == ["rejected:duplicate"])
        for _ in 0..<NamesMachine.preorderLifetime { try h.block([]) }
        #expect(try h.block([(":", Array("carol.id".utf8), bob, bob, 0)]) == ["rejected:expired"])
        // A preorder made by another sender for this sender's hash: wrong sender.
        #expect(try h.block([preorder(h, "dave.id", by: bob, for: bob), ("?", NamesMachine.preorderHash(name: "erin.id", sender: alice, recipient: alice) + h.recentHash, bob, bob, 1_000_000)])
                == ["accepted:?", "accepted:?"])
        #expect(try h.block([(":", Array("erin.id".utf8), alice, alice, 0)]) == ["rejected:wrong sender"])
        #expect(try h.block([(":", Array("erin.id".utf8), alice, nil, 0)]) == ["rejected:no recipient output"])
    }

    /// A preorder's record: the name's place holds the hash, the recipient's place is empty.
    @Test func preorderRecordHasAnEmptyRecipientField() throws {
        let h = try Harness()
        try h.block([])
        let op = preorder(h, "alice.id", by: alice, for: bob)
        #expect(try h.block([op]) == ["accepted:?"])
        let serialized = try h.engine.store.database.run("SELECT serialized FROM vc_records WHERE opcode = '?'")[0][0].blob!
        let hash = Hex.encode(NamesMachine.preorderHash(name: "alice.id", sender: alice, recipient: bob))
        #expect(String(decoding: serialized, as: UTF8.self) == "?:40:\(hash),44:\(Hex.encode(alice)),0:,0:,1:2,1:1")
    }

    /// hash160(name ‖ sender script ‖ recipient script), byte order pinned by an independent
    /// implementation: python-bitcoinlib's Hash160 (pure-Python RIPEMD-160) gave this value.
    @Test func preorderHashByteOrderIsPinned() {
        let sender = Script.p2pkh([UInt8](repeating: 0x11, count: 20)), recipient = Script.p2wpkh([UInt8](repeating: 0x22, count: 20))
        #expect(Hex.encode(NamesMachine.preorderHash(name: "alice.id", sender: sender, recipient: recipient)) == "ca09d57d52a982c42af3a38f97b7e9908cfb81f5")
    }

    @Test func preorderAndRegisterRules() throws {
        let h = try Harness()
        try h.block([])
        // Unresolved sender, stale consensus hash, same-block register, unpaid, duplicate preorder.
        #expect(try h.block([("?", [UInt8](repeating: 1, count: 36), nil, bob, 0)]) == ["rejected:unresolved sender"])
        #expect(try h.block([("?", NamesMachine.preorderHash(name: "bob.id", sender: bob, recipient: bob) + [UInt8](repeating: 9, count: 16), bob, bob, 1_000_000)])
                == ["rejected:stale consensus hash"])
        #expect(try h.block([preorder(h, "bob.id", by: bob, for: bob), (":", Array("bob.id".utf8), bob, bob, 0)])
                == ["accepted:?", "rejected:no preorder"])
        #expect(try h.block([preorder(h, "bob.id", by: bob, for: bob)]) == ["rejected:duplicate"])
        #expect(try h.block([preorder(h, "cheap.id", by: alice, for: alice, burn: NamesMachine.price(name: "cheap.id") - 1)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("cheap.id".utf8), alice, alice, 0)]) == ["rejected:unpaid"])
        // Output 1 must be the preordered recipient: paying someone else is a different hash.
        #expect(try h.block([(":", Array("bob.id".utf8), bob, alice, 0)]) == ["rejected:no preorder"])
        #expect(try h.block([(":", Array("bob.id".utf8), bob, bob, 0)]) == ["accepted::"])
        // Someone else's valid preorder of a taken name: its register is a duplicate.
        #expect(try h.block([preorder(h, "bob.id", by: alice, for: alice)]) == ["accepted:?"])
        #expect(try h.block([(":", Array("bob.id".utf8), alice, alice, 0)]) == ["rejected:duplicate"])
        // Malformed payloads are dropped, not rejected.
        #expect(try h.block([(":", Array("Bob.id".utf8), bob, bob, 0), ("?", [1, 2, 3], bob, bob, 0)]) == ["dropped", "dropped"])
    }

    @Test func preorderExpiresAfter144Blocks() throws {
        let h = try Harness()
        try h.block([])
        #expect(try h.block([preorder(h, "late.id", by: alice, for: alice)]) == ["accepted:?"])
        for _ in 0..<(NamesMachine.preorderLifetime - 1) { try h.block([]) }
        #expect(try h.block([(":", Array("late.id".utf8), alice, alice, 0)]) == ["rejected:expired"])
    }

    @Test func priceAndNameRules() {
        #expect(NamesMachine.price(name: "a.id") == 512_000)
        #expect(NamesMachine.price(name: "abcdefghij.id") == 1_000)
        #expect(NamesMachine.price(name: "abcdefghijklmnop.id") == 1_000)
        #expect(NamesMachine.isValidName(Array("my-name_1.id".utf8)))
        for bad in ["", "noname", "Upper.id", "a.b.id", ".id", "a.", String(repeating: "x", count: 35) + ".id", "sp ace.id"] {
            #expect(!NamesMachine.isValidName(Array(bad.utf8)), "\(bad)")
        }
    }
}
