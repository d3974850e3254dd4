import BitcoinWire
import BlockFiles
import FuzzSupport

/// blk/rev record framing: byte 0 picks xor (bit 0), newest-file mode (bit 1), undo records
/// (bit 2) and sparse reads (bit 3: the header pass's small window, so records and garbage
/// straddle refills); with xor, bytes 1-8 are the key; the rest is the file. Every record found
/// is read back (de-obfuscated).
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
    let readSize = bytes[0] & 8 == 8 ? FileWindow.sparseReadSize : FileWindow.denseReadSize
    let file = FileWindow(borrowing: UnsafeRawBufferPointer(rebasing: bytes[start...]), path: "fuzz/blk00000.dat", readSize: readSize)
    var scanner = RecordScanner(file: file, number: 0, magic: Network.regtest.magicValue, xorKey: key, isNewest: newest, kind: kind)
    var buffer: [UInt8] = []
    var records = 0
    // Bytes in memory never end early, so reading cannot fail.
    while let record = try! scanner.next() {
        precondition(record.offset >= 0 && record.payloadOffset + record.size + kind.trailer <= file.count, "record outside the file")
        try! scanner.read(offset: record.payloadOffset, length: min(record.size, BlockHeader.size), into: &buffer)
        records += 1
        precondition(records <= file.count / 8 + 1, "more records than bytes allow")
    }
    _ = scanner.problems.count
    return 0
}

@_cdecl("FuzzRecords_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
