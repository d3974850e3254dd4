import BitcoinWire
import Virtualchain

/// The naming system of `docs/names.md`, modelled on Blockstack's `.id`: names are
/// preordered (a salted-by-sender hash and a burn), registered, renewed, updated, transferred and
/// revoked. Written only against the public `StateMachine` API.
public struct NamesMachine: StateMachine, Sendable {
    public static let identity = "names"
    public static let version = 1

    public static let preorderLifetime = 144
    public static let registrationLifetime = 52_560
    public static let consensusWindow = 48
    public static let maxNameLength = 37
    /// `76a914 ‖ 20 zero bytes ‖ 88ac`: outputs paying here are burned.
    public static let burnScript = Script.p2pkh([UInt8](repeating: 0, count: 20))

    public enum Opcode {
        public static let preorder = UInt8(ascii: "?")
        public static let register = UInt8(ascii: ":")
        public static let update = UInt8(ascii: "+")
        public static let transfer = UInt8(ascii: ">")
        public static let revoke = UInt8(ascii: "~")
    }

    public let magic: [UInt8] = Array("id".utf8)
    public let firstBlock: Int
    public let opcodes: Set<UInt8> = [Opcode.preorder, Opcode.register, Opcode.update, Opcode.transfer, Opcode.revoke]

    public init(firstBlock: Int) { self.firstBlock = firstBlock }

    /// Every record ends with the block's height and the transaction's vtxindex (its 5th and
    /// 6th fields): a proof of it binds its height without a Bitcoin part.
    public var recordPositionFields: RecordPositionFields? { RecordPositionFields(height: 4, vtxindex: 5) }

    /// Senders come from the undo data, never from witnesses.
    public var readsWitnessData: Bool { false }

    /// Mainnet starts where Blockstack did; other networks at block 1.
    public static func firstBlock(network: String) -> Int { network == "mainnet" ? 373_601 : 1 }

    public let migrations = [
        """
        CREATE TABLE names (
            name TEXT PRIMARY KEY, owner TEXT NOT NULL, value_hash TEXT, registered_at INTEGER NOT NULL,
            renewed_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE preorders (
            hash TEXT PRIMARY KEY, sender TEXT NOT NULL, height INTEGER NOT NULL, burned INTEGER NOT NULL,
            expires_at INTEGER NOT NULL);
        CREATE TABLE name_history (
            name TEXT NOT NULL, height INTEGER NOT NULL, vtxindex INTEGER NOT NULL, op TEXT NOT NULL,
            sender TEXT NOT NULL, owner TEXT, value_hash TEXT);
        CREATE INDEX name_history_by_name ON name_history (name, height);
        """,
    ]

    public enum Operation {
        case preorder(hash: [UInt8], consensusHash: [UInt8], common: Common)
        case register(name: String, common: Common)
        case update(name: String, valueHash: [UInt8], common: Common)
        case transfer(name: String, keepValue: Bool, consensusHash: [UInt8], common: Common)
        case revoke(name: String, common: Common)
    }

    /// What every operation carries: who sent it, where output 1 pays, what it burned.
    public struct Common {
        public var sender: [UInt8]?
        public var recipient: [UInt8]?
        public var burned: Int64
        public var height: Int
        public var vtxindex: Int
        public var opcode: UInt8
    }

    /// `label.namespace`: lowercase letters, digits, `-` and `_`, at most 37 bytes.
    public static func isValidName(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, bytes.count <= maxNameLength else { return false }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        return bytes.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
        }
    }

    /// `1000 × 2^(max(0, 10 − len(label)))` satoshis.
    public static func price(name: String) -> Int64 {
        let label = name.split(separator: ".").first.map(String.init) ?? name
        return 1000 << Int64(max(0, 10 - label.utf8.count))
    }

    /// hash160(name ‖ sender script ‖ recipient script): what a preorder commits to.
    public static func preorderHash(name: String, sender: [UInt8], recipient: [UInt8]) -> [UInt8] {
        Hashes.hash160(Array(name.utf8) + sender + recipient)
    }

    public func parse(_ candidate: Candidate) -> Operation? {
        let p = candidate.payload
        // Values outside Core's money range never come from a valid block; such a candidate
        // carries no operation (and its sum could not be formed without overflow).
        guard let burned = Money.sum(candidate.outputs.lazy.filter { $0.scriptPubKey == Self.burnScript }.map(\.value)) else { return nil }
        let common = Common(sender: candidate.senders.first?.scriptPubKey,
                            recipient: candidate.outputs.count > 1 ? candidate.outputs[1].scriptPubKey : nil,
                            burned: burned,
                            height: candidate.height, vtxindex: candidate.vtxindex, opcode: candidate.opcode)
        func name(_ bytes: ArraySlice<UInt8>) -> String? {
            Self.isValidName(Array(bytes)) ? String(decoding: bytes, as: UTF8.self) : nil
        }
        switch candidate.opcode {
        case Opcode.preorder:
            guard p.count == 36 else { return nil }
            return .preorder(hash: Array(p[0..<20]), consensusHash: Array(p[20..<36]), common: common)
        case Opcode.register:
            return name(p[...]).map { .register(name: $0, common: common) }
        case Opcode.update:
            guard p.count > 20 else { return nil }
            return name(p[20...]).map { .update(name: $0, valueHash: Array(p[0..<20]), common: common) }
        case Opcode.transfer:
            guard p.count > 17, p[0] == UInt8(ascii: ">") || p[0] == UInt8(ascii: "~") else { return nil }
            return name(p[17...]).map { .transfer(name: $0, keepValue: p[0] == UInt8(ascii: ">"), consensusHash: Array(p[1..<17]), common: common) }
        case Opcode.revoke:
            return name(p[...]).map { .revoke(name: $0, common: common) }
        default:
            return nil
        }
    }

    struct NameRow {
        var owner: String
        var valueHash: String?
        var expiresAt: Int
        var revoked: Bool
    }

    func nameRow(_ name: String, _ db: MachineDatabase) throws -> NameRow? {
        try db.fetchOne("SELECT owner, value_hash, expires_at, revoked FROM names WHERE name = ?", [name]).map {
            NameRow(owner: try $0.get("owner"), valueHash: try $0.get("value_hash"), expiresAt: try $0.get("expires_at"), revoked: try $0.get("revoked"))
        }
    }

    // Rejection reasons, counted as "rejected:<reason>". Where an operation fails several
    // conditions, the first in the spec's order counts: senders unresolved, missing output[1],
    // stale consensus hash, wrong sender / not owner, name state (unknown, expired, revoked,
    // taken), payment.
    static let unresolvedSender = "unresolved sender"
    static let noRecipient = "no recipient output"
    static let staleConsensusHash = "stale consensus hash"
    static let wrongSender = "wrong sender"
    static let unregistered = "unregistered"
    static let noPreorder = "no preorder"
    static let expired = "expired"
    static let revoked = "revoked"
    static let taken = "duplicate"
    static let unpaid = "unpaid"

    /// An operation on an existing name (update, transfer, revoke, renew): the name's owner must
    /// send it, and the name must be registered, unexpired and not revoked, checked in the spec's
    /// order (a wrong sender before the name's state).
    func requireOwner(_ name: String, sender: [UInt8], _ block: BlockContext) throws -> NameRow {
        let row = try nameRow(name, block.database)
        if let row, row.owner != Hex.encode(sender) { throw Rejection(Self.wrongSender) }
        guard let row else { throw Rejection(Self.unregistered) }
        guard row.expiresAt > block.height else { throw Rejection(Self.expired) }
        // A revoked name accepts no operation until it expires (then it is free like any other).
        guard !row.revoked else { throw Rejection(Self.revoked) }
        return row
    }

    /// Whether `:` on `name` by `sender` is a renewal: the name is registered, unexpired and owned
    /// by the sender (revoked or not: a revoked name's renewal is then rejected as revoked).
    func isRenewal(_ name: String, sender: [UInt8], _ block: BlockContext) throws -> Bool {
        guard let row = try nameRow(name, block.database) else { return false }
        return row.expiresAt > block.height && row.owner == Hex.encode(sender)
    }

    public func check(_ operation: Operation, in block: BlockContext) throws {
        let db = block.database
        switch operation {
        case let .preorder(hash, consensusHash, common):
            guard common.sender != nil else { throw Rejection(Self.unresolvedSender) }
            guard block.isRecentConsensusHash(consensusHash, window: Self.consensusWindow) else { throw Rejection(Self.staleConsensusHash) }
            let existing = try db.fetchOne(Int.self, "SELECT expires_at FROM preorders WHERE hash = ?", [Hex.encode(hash)])
            if let existing, existing > block.height { throw Rejection(Self.taken) }
        case let .register(name, common):
            guard let sender = common.sender else { throw Rejection(Self.unresolvedSender) }
            guard let recipient = common.recipient else { throw Rejection(Self.noRecipient) }
            if try isRenewal(name, sender: sender, block) {
                _ = try requireOwner(name, sender: sender, block)
                return
            }
            let hash = Hex.encode(Self.preorderHash(name: name, sender: sender, recipient: recipient))
            let preorder = try db.fetchOne("SELECT sender, height, burned, expires_at FROM preorders WHERE hash = ?", [hash])
            if let preorder, try preorder.get("sender", as: String.self) != Hex.encode(sender) { throw Rejection(Self.wrongSender) }
            // Name state: the preorder unknown (or not from a lower height) or expired; the name
            // revoked or taken.
            guard let preorder, try preorder.get("height", as: Int.self) < block.height else { throw Rejection(Self.noPreorder) }
            guard try preorder.get("expires_at", as: Int.self) > block.height else { throw Rejection(Self.expired) }
            if let row = try nameRow(name, db), row.expiresAt > block.height {
                throw Rejection(row.revoked ? Self.revoked : Self.taken)
            }
            guard try preorder.get("burned", as: Int64.self) >= Self.price(name: name) else { throw Rejection(Self.unpaid) }
        case let .update(name, _, common):
            guard let sender = common.sender else { throw Rejection(Self.unresolvedSender) }
            _ = try requireOwner(name, sender: sender, block)
        case let .transfer(name, _, consensusHash, common):
            guard let sender = common.sender else { throw Rejection(Self.unresolvedSender) }
            guard common.recipient != nil else { throw Rejection(Self.noRecipient) }
            guard block.isRecentConsensusHash(consensusHash, window: Self.consensusWindow) else { throw Rejection(Self.staleConsensusHash) }
            _ = try requireOwner(name, sender: sender, block)
        case let .revoke(name, common):
            guard let sender = common.sender else { throw Rejection(Self.unresolvedSender) }
            _ = try requireOwner(name, sender: sender, block)
        }
    }

    public func commit(_ operation: Operation, in block: BlockContext) throws -> [ConsensusRecord] {
        [try commitOne(operation, in: block)]
    }

    func commitOne(_ operation: Operation, in block: BlockContext) throws -> ConsensusRecord {
        let db = block.database
        let h = block.height
        func record(_ common: Common, _ first: String, owner: String?, value: String?) throws -> ConsensusRecord {
            let sender = Hex.encode(common.sender ?? [])
            if common.opcode != Opcode.preorder {
                try db.execute("INSERT INTO name_history (name, height, vtxindex, op, sender, owner, value_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               [first, h, common.vtxindex, String(UnicodeScalar(common.opcode)), sender, owner, value])
            }
            return ConsensusRecord(opcode: common.opcode, fields: [
                .text(first), .text(sender), owner.map { .text($0) } ?? .none, value.map { .text($0) } ?? .none,
                .integer(Int64(h)), .integer(Int64(common.vtxindex)),
            ])
        }
        switch operation {
        case let .preorder(hash, _, common):
            let hex = Hex.encode(hash)
            try db.execute("INSERT OR REPLACE INTO preorders (hash, sender, height, burned, expires_at) VALUES (?, ?, ?, ?, ?)",
                           [hex, Hex.encode(common.sender!), h, common.burned, h + Self.preorderLifetime])
            return try record(common, hex, owner: nil, value: nil)
        case let .register(name, common):
            let owner = Hex.encode(common.recipient!)
            if let row = try nameRow(name, db), row.expiresAt > h {
                try db.execute("UPDATE names SET owner = ?, renewed_at = ?, expires_at = ? WHERE name = ?",
                               [owner, h, h + Self.registrationLifetime, name])
                return try record(common, name, owner: owner, value: row.valueHash)
            }
            let hash = Hex.encode(Self.preorderHash(name: name, sender: common.sender!, recipient: common.recipient!))
            try db.execute("DELETE FROM preorders WHERE hash = ?", [hash])
            try db.execute("""
                INSERT OR REPLACE INTO names (name, owner, value_hash, registered_at, renewed_at, expires_at, revoked)
                VALUES (?, ?, NULL, ?, ?, ?, 0)
                """, [name, owner, h, h, h + Self.registrationLifetime])
            return try record(common, name, owner: owner, value: nil)
        case let .update(name, valueHash, common):
            let value = Hex.encode(valueHash)
            try db.execute("UPDATE names SET value_hash = ? WHERE name = ?", [value, name])
            return try record(common, name, owner: try nameRow(name, db)!.owner, value: value)
        case let .transfer(name, keepValue, _, common):
            let owner = Hex.encode(common.recipient!)
            let row = try nameRow(name, db)!
            let value = keepValue ? row.valueHash : nil
            try db.execute("UPDATE names SET owner = ?, value_hash = ? WHERE name = ?", [owner, value, name])
            return try record(common, name, owner: owner, value: value)
        case let .revoke(name, common):
            try db.execute("UPDATE names SET revoked = 1 WHERE name = ?", [name])
            let row = try nameRow(name, db)!
            return try record(common, name, owner: row.owner, value: row.valueHash)
        }
    }
}
