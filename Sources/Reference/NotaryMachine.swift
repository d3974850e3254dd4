import BitcoinWire
import Virtualchain

/// The smallest useful state machine, and the template to copy: a notary. A transaction whose
/// OP_RETURN data is `vc` `s` <32-byte hash> stamps that hash; the first stamp wins and records
/// who made it (the script of the output spent by the first input).
public struct NotaryMachine: StateMachine, Sendable {
    public static let identity = "reference"
    public static let version = 1
    public let magic: [UInt8] = Array("vc".utf8)
    public let firstBlock: Int
    public let opcodes: Set<UInt8> = [UInt8(ascii: "s")]
    public let migrations = ["CREATE TABLE stamps (hash TEXT PRIMARY KEY, sender TEXT NOT NULL, height INTEGER NOT NULL, vtxindex INTEGER NOT NULL)"]

    public init(firstBlock: Int = 1) { self.firstBlock = firstBlock }

    public struct Operation {
        var hash: String
        var sender: [UInt8]?
        var height: Int
        var vtxindex: Int
    }

    public func parse(_ c: Candidate) -> Operation? {
        c.payload.count == 32 ? Operation(hash: Hex.encode(c.payload), sender: c.senders.first?.scriptPubKey, height: c.height, vtxindex: c.vtxindex) : nil
    }

    public func check(_ op: Operation, in block: BlockContext) throws {
        guard op.sender != nil else { throw Rejection("unresolved sender") }
        if try block.database.exists("SELECT 1 FROM stamps WHERE hash = ?", [op.hash]) { throw Rejection("already stamped") }
    }

    public func commit(_ op: Operation, in block: BlockContext) throws -> [ConsensusRecord] {
        let sender = Hex.encode(op.sender!)
        try block.database.execute("INSERT INTO stamps VALUES (?, ?, ?, ?)", [op.hash, sender, op.height, op.vtxindex])
        return [ConsensusRecord(opcode: UInt8(ascii: "s"), fields: [.text(op.hash), .text(sender), .integer(Int64(op.height)), .integer(Int64(op.vtxindex))])]
    }
}
