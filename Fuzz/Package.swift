// swift-tools-version:6.0
// libFuzzer targets, built by scripts/fuzz with `-sanitize=fuzzer,address` (never by `swift test`).
import PackageDescription

let flags: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func fuzzTarget(_ name: String, _ products: [String]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: "virtualchain") },
                      swiftSettings: flags)
}

let package = Package(
    name: "virtualchain-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "virtualchain", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "BitcoinWire", package: "virtualchain"), .product(name: "Virtualchain", package: "virtualchain")]),
        fuzzTarget("FuzzRecords", ["BitcoinWire", "BlockFiles"]),
        fuzzTarget("FuzzBlock", ["BitcoinWire"]),
        fuzzTarget("FuzzFilter", ["BitcoinWire"]),
        // Our filter against the original's tokenizer, transcribed plainly (a link to the test
        // target's file, so both compare against one transcription).
        fuzzTarget("FuzzNullData", ["BitcoinWire"]),
        fuzzTarget("FuzzCandidates", ["BitcoinWire", "BlockFiles", "BlockReader"]),
        fuzzTarget("FuzzUndo", ["BitcoinWire", "BlockFiles"]),
        fuzzTarget("FuzzCheckpoint", ["Checkpoints"]),
        fuzzTarget("FuzzProof", ["Proofs"]),
        fuzzTarget("FuzzNamesParse", ["Names"]),
        fuzzTarget("FuzzReferenceParse", ["Reference"]),
        fuzzTarget("FuzzHeaderIndex", ["BlockFiles", "ChainIndex"]),
    ]
)
