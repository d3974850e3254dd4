import BitcoinWire
import Virtualchain

/// Builds a state-machine candidate from fuzz bytes: opcode, sender presence, outputs, payload.
public func candidate(from bytes: UnsafeRawBufferPointer) -> Candidate? {
    guard bytes.count >= 3 else { return nil }
    let opcode = bytes[0]
    let flags = bytes[1]
    let outputCount = Int(bytes[2] & 3)
    var cursor = 3
    var outputs: [TxOut] = []
    for _ in 0..<outputCount {
        guard cursor < bytes.count else { break }
        let length = min(Int(bytes[cursor]) & 31, bytes.count - cursor - 1)
        outputs.append(TxOut(value: Int64(length) * 1000, scriptPubKey: Array(bytes[(cursor + 1)..<(cursor + 1 + length)])))
        cursor += 1 + length
    }
    let payload = Array(bytes[min(cursor, bytes.count)...])
    let senders: Senders = flags & 1 == 1 ? .resolved([Sender(scriptPubKey: Array(payload.prefix(22)), value: 50_000)]) : .unresolved
    return Candidate(height: Int(flags), blockHash: .zero, txid: .zero, vtxindex: Int(flags >> 1), opcode: opcode,
                     payload: payload, outputs: outputs, senders: senders, fee: nil)
}
