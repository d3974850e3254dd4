import BitcoinWire
import FuzzSupport

/// Block and transaction parser, verification and every lazy accessor on arbitrary bytes.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    guard bytes.count > 0, let block = try? BlockView.parse(bytes) else { return 0 }
    try? block.verify()
    _ = block.coinbaseHeight
    for tx in block.transactions {
        _ = tx.txid(); _ = tx.wtxid(); _ = tx.weight
        _ = tx.inputs(); _ = tx.outputs(); _ = tx.witnesses(); _ = tx.nullData
    }
    var cursor = ByteCursor(bytes)
    _ = try? Transaction(from: &cursor)
    return 0
}

@_cdecl("FuzzBlock_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runFuzzer(argc, argv, target)
}
