// README-EXAMPLE-BEGIN
import BitcoinWire
import Virtualchain

/// A guestbook: `OP_RETURN "hi" "!" <message>` signs it; at most 3 entries per sender.
struct Guestbook: StateMachine {
    static let identity = "guestbook"
    static let version = 1
    let magic = Array("hi".utf8)
    let firstBlock = 1
    let opcodes: Set<UInt8> = [UInt8(ascii: "!")]
    let migrations = ["CREATE TABLE entries (sender TEXT NOT NULL, message TEXT NOT NULL, height INTEGER NOT NULL)"]

    struct Operation { var sender: String; var message: String }

    func parse(_ candidate: Candidate) -> Operation? {
        guard let sender = candidate.senders.first, (1...64).contains(candidate.payload.count) else { return nil }
        return Operation(sender: Hex.encode(sender.scriptPubKey), message: Hex.encode(candidate.payload))
    }

    func check(_ op: Operation, in block: BlockContext) throws {
        let entries = try block.database.fetchOne(Int.self, "SELECT count(*) FROM entries WHERE sender = ?", [op.sender]) ?? 0
        if entries >= 3 { throw Rejection("guestbook full for this sender") }
    }

    func commit(_ op: Operation, in block: BlockContext) throws -> [ConsensusRecord] {
        try block.database.execute("INSERT INTO entries VALUES (?, ?, ?)", [op.sender, op.message, block.height])
        return [ConsensusRecord(opcode: UInt8(ascii: "!"), fields: [.text(op.sender), .text(op.message), .integer(Int64(block.height))])]
    }
}
// Replay a blocks directory through it:
//   let blocks = try BlocksDirectory(path: "/path/to/blocks", network: .regtest)
//   let engine = try Engine(machine: Guestbook(), stateDirectory: "guestbook-state", network: .regtest)
//   let summary = try engine.run(directory: blocks, index: ChainIndex(directory: blocks))
// README-EXAMPLE-END
