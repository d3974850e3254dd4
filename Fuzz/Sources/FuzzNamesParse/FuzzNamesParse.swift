import FuzzSupport
import Names

/// The names machine's parse step on arbitrary candidates.
let machine = NamesMachine(firstBlock: 1)
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    guard let candidate = candidate(from: input(data, size)) else { return 0 }
    _ = machine.parse(candidate)
    _ = NamesMachine.isValidName(candidate.payload)
    if let text = String(validating: candidate.payload.prefix(40), as: UTF8.self) { _ = NamesMachine.price(name: text) }
    return 0
}

@_cdecl("FuzzNamesParse_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
