import BlockFiles
import ChainIndex
import Foundation
import FuzzSupport

/// A state directory's header index, damaged or forged: refused or read, never a crash. Each
/// input is read as a whole index, and after a valid start (tag, version, header segment) so
/// that the file segments are reached.
let directory: BlocksDirectory = {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-header-index-blocks").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return try! BlocksDirectory(path: path, network: .regtest)
}()
let validStart = HeaderIndexStore.emptyIndex(of: directory)

let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    _ = HeaderIndexStore.parse(bytes, path: "fuzz", directory: directory)
    let framed = validStart + Array(bytes)
    framed.withUnsafeBytes { _ = HeaderIndexStore.parse($0, path: "fuzz", directory: directory) }
    return 0
}

@_cdecl("FuzzHeaderIndex_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
