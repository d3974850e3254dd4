import BitcoinWire
import FuzzSupport

/// Block and transaction parser, verification and every lazy accessor on arbitrary bytes.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    guard bytes.count > 0, let block = try? BlockView.parse(bytes) else { return 0 }
    // Every rule set: context-free, pre-BIP34, pre-segwit and everything on.
    try? block.verify(rules: .contextFree)
    let height = block.coinbaseHeight ?? 0
    try? block.verify(rules: BlockRules(height: height, coinbaseHeight: false, minimumVersion: 1, segwit: false))
    try? block.verify(rules: BlockRules(height: height, coinbaseHeight: true, minimumVersion: 2, segwit: false))
    try? block.verify(rules: BlockRules(height: height, coinbaseHeight: true, minimumVersion: 4, segwit: true))
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
