import BitcoinWire
import BlockFiles
import FuzzSupport

/// blk/rev record framing: byte 0 picks xor (bit 0), newest-file mode (bit 1) and undo records
/// (bit 2); with xor, bytes 1-8 are the key; the rest is the file. Every record found is read
/// back (de-obfuscated).
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    guard bytes.count >= 1 else { return 0 }
    let useXor = bytes[0] & 1 == 1
    let newest = bytes[0] & 2 == 2
    let kind: RecordScanner.Kind = bytes[0] & 4 == 4 ? .undo : .block
    var key = XorKey.none
    var start = 1
    if useXor && bytes.count >= 9 {
        key = XorKey(bytes: Array(bytes[1..<9])) ?? .none
        start = 9
    }
    let file = MappedFile(borrowing: UnsafeRawBufferPointer(rebasing: bytes[start...]), path: "fuzz/blk00000.dat")
    var scanner = RecordScanner(file: file, number: 0, magic: Network.regtest.magicValue, xorKey: key, isNewest: newest, kind: kind)
    var buffer: [UInt8] = []
    var records = 0
    while let record = scanner.next() {
        precondition(record.offset >= 0 && record.payloadOffset + record.size + kind.trailer <= file.bytes.count, "record outside the file")
        scanner.read(offset: record.payloadOffset, length: min(record.size, BlockHeader.size), into: &buffer)
        records += 1
        precondition(records <= file.bytes.count / 8 + 1, "more records than bytes allow")
    }
    _ = scanner.problems.count
    return 0
}

@_cdecl("FuzzRecords_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
