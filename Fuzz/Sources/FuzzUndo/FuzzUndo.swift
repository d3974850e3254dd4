import BitcoinWire
import BlockFiles
import FuzzSupport

/// Core's undo data: a whole CBlockUndo, and compressed scripts and coins on their own.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    _ = try? UndoFormat.decodeBlockUndo(bytes)
    var cursor = ByteCursor(bytes)
    while !cursor.isAtEnd {
        guard (try? UndoFormat.readCoin(from: &cursor)) != nil else { break }
    }
    var scripts = ByteCursor(bytes)
    _ = try? UndoFormat.readCompressedScript(from: &scripts)
    if bytes.count >= 8 { _ = UndoFormat.decompressAmount(bytes.loadUnaligned(as: UInt64.self)) }
    return 0
}

@_cdecl("FuzzUndo_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
