import FuzzSupport
import Reference

/// The reference (notary) machine's parse step on arbitrary candidates.
let machine = NotaryMachine()
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    guard let candidate = candidate(from: input(data, size)) else { return 0 }
    _ = machine.parse(candidate)
    return 0
}

@_cdecl("FuzzReferenceParse_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
