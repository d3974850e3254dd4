import BitcoinWire
import FuzzSupport

/// The operation filter (spec section 2): byte 0 gives the magic length (0-7), then the magic,
/// then a transaction; also the nulldata rule on the raw bytes as what follows OP_RETURN.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    guard bytes.count >= 1 else { return 0 }
    let magicLength = Int(bytes[0] & 7)
    guard bytes.count >= 1 + magicLength else { return 0 }
    let magic = Array(bytes[1..<(1 + magicLength)])
    let rest = UnsafeRawBufferPointer(rebasing: bytes[(1 + magicLength)...])
    if let push = NullData.soleDataPush(afterOpReturn: rest) {
        precondition(push.upperBound == rest.count && push.lowerBound <= rest.count, "push outside the script")
    }
    var cursor = ByteCursor(rest)
    while !cursor.isAtEnd, let tx = try? TransactionView.parse(from: &cursor) {
        if let data = tx.nullData, let op = NullData.operation(in: data, magic: magic) {
            precondition(op.payload.count + magic.count + 1 == data.count, "payload length")
        }
    }
    if !magic.isEmpty { _ = NullData.operation(in: rest, magic: magic) }
    _ = NullData.parseMagic(String(decoding: rest.prefix(40), as: UTF8.self))
    return 0
}

@_cdecl("FuzzFilter_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
