import Checkpoints
import FuzzSupport

/// The checkpoint loader: header frame, then the LZ4 payload with every check.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    guard let (header, end) = try? CheckpointFile.readHeader(bytes) else { return 0 }
    if let payload = try? CheckpointFile.readPayload(bytes, header: header, frameEnd: end) {
        precondition(payload.count == header.payloadBytes, "payload size")
    }
    return 0
}

@_cdecl("FuzzCheckpoint_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
