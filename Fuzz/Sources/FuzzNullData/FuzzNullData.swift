import BitcoinWire
import FuzzSupport

/// Differential: which operation a transaction carries, decided by the reader's filter and by a
/// plain transcription of the original virtualchain's tokenizer (OriginalNullDataRule.swift, the
/// file the test target uses). Input: byte 0 gives the magic length (0-3), then the magic, then
/// output scripts, each a length byte and that many bytes. Any difference is a crash.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    guard bytes.count >= 1 else { return 0 }
    let magicLength = Int(bytes[0] & 3)
    guard bytes.count >= 1 + magicLength else { return 0 }
    let magic = Array(bytes[1..<(1 + magicLength)])
    var outputs: [[UInt8]] = []
    var i = 1 + magicLength
    while i < bytes.count && outputs.count < 16 {
        let length = Int(bytes[i])
        let end = min(bytes.count, i + 1 + length)
        outputs.append(Array(bytes[(i + 1)..<end]))
        i = end
    }
    guard !outputs.isEmpty else { return 0 }
    let tx = Transaction(version: 2, inputs: [TxIn(previousOutput: OutPoint(txid: Txid(Hash256(bytes: [UInt8](repeating: 7, count: 32))), index: 0), scriptSig: [])],
                         outputs: outputs.map { TxOut(value: 0, scriptPubKey: $0) })
    let serialized = tx.serialized()
    let ours: (UInt8, [UInt8])? = serialized.withUnsafeBytes { raw in
        var cursor = ByteCursor(raw)
        guard let view = try? TransactionView.parse(from: &cursor) else { preconditionFailure("a built transaction does not parse") }
        return OperationFilter(magic: magic).operation(in: view).map { ($0.opcode, Array($0.payload)) }
    }
    let original = OriginalNullDataRule.operation(outputs: outputs, magic: magic)
    precondition(ours?.0 == original?.opcode && ours?.1 == original?.payload,
                 "filter \(String(describing: ours)) differs from the original's \(String(describing: original)) for \(outputs)")
    return 0
}

@_cdecl("FuzzNullData_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
