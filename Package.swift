// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "virtualchain",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "BitcoinWire", targets: ["BitcoinWire"]),
        .library(name: "BlockFiles", targets: ["BlockFiles"]),
        .library(name: "ChainIndex", targets: ["ChainIndex"]),
        .library(name: "BlockReader", targets: ["BlockReader"]),
        .library(name: "Measuring", targets: ["Measuring"]),
        .library(name: "ConsensusHashing", targets: ["ConsensusHashing"]),
        .library(name: "Proofs", targets: ["Proofs"]),
        .library(name: "Virtualchain", targets: ["Virtualchain"]),
        .library(name: "Checkpoints", targets: ["Checkpoints"]),
        .library(name: "Importer", targets: ["Importer"]),
        .library(name: "Names", targets: ["Names"]),
        .library(name: "Reference", targets: ["Reference"]),
        .library(name: "TestChain", targets: ["TestChain"]),
        .library(name: "VirtualchainCommands", targets: ["VirtualchainCommands"]),
        .executable(name: "virtualchain", targets: ["virtualchain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System libraries (Debian -dev packages); thin module maps, no vendored C.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // SHA-256 compressions through the x86 SHA extensions, two streams at once (our own C:
        // Swift cannot reach the CPU's SHA instructions; OpenSSL hashes one stream at a time).
        .target(name: "CSHA256"),
        // A SIGBUS in a mapping of a file that shrank becomes a flag the reader checks, not a
        // crash (C: a signal handler must be async-signal-safe, which Swift code cannot promise).
        .target(name: "CMappingGuard"),
        .target(name: "BitcoinWire", dependencies: ["CCrypto", "CSHA256"]),
        .target(name: "BlockFiles", dependencies: ["BitcoinWire", "CMappingGuard"]),
        .target(name: "ChainIndex", dependencies: ["BitcoinWire", "BlockFiles"]),
        .target(name: "BlockReader", dependencies: ["BitcoinWire", "BlockFiles", "ChainIndex"]),
        // Measuring helpers for bench and Benchmarks/ (hash baseline, resident memory): not the reader's business.
        .target(name: "Measuring", dependencies: ["BitcoinWire"]),
        // Consensus hashes and light-client proof verification: hashing only (no SQLite, no files).
        .target(name: "ConsensusHashing", dependencies: ["BitcoinWire"]),
        .target(name: "Proofs", dependencies: ["BitcoinWire", "ConsensusHashing"]),
        .target(name: "Virtualchain", dependencies: ["BitcoinWire", "ConsensusHashing", "Proofs", "BlockFiles", "ChainIndex", "BlockReader", "CSQLite"]),
        .target(name: "Checkpoints", dependencies: ["BitcoinWire", "BlockFiles", "ConsensusHashing", "CLZ4"]),
        .target(name: "Importer", dependencies: ["BitcoinWire", "BlockFiles", "BlockReader", "ChainIndex", "Checkpoints", "ConsensusHashing", "Virtualchain"]),
        .target(name: "Names", dependencies: ["BitcoinWire", "Virtualchain"]),
        .target(name: "Reference", dependencies: ["BitcoinWire", "Virtualchain"]),
        .target(name: "TestChain", dependencies: ["BitcoinWire", "BlockFiles", "Virtualchain", "Names"]),
        // The command line as a library: a user's executable is their machine plus one call.
        .target(
            name: "VirtualchainCommands",
            dependencies: [
                "BitcoinWire", "BlockFiles", "ChainIndex", "BlockReader", "Virtualchain", "Checkpoints", "Importer", "Measuring",
                "Proofs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "virtualchain",
            dependencies: [
                "VirtualchainCommands", "BitcoinWire", "BlockFiles", "TestChain", "Virtualchain", "Names", "Reference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // A test program, not a product: an import whose checkpoint writes pause half-way, for
        // the kill tests (faults reach the importer only through `package` access).
        .executableTarget(name: "ImportFaultHarness", dependencies: ["Importer", "Names", "BlockFiles"], path: "Tests/ImportFaultHarness"),
        // One test target per module, beside what it tests; the executable's subprocess tests
        // together in CommandLineTests.
        .testTarget(name: "BitcoinWireTests", dependencies: ["BitcoinWire", "TestSupport"]),
        .testTarget(name: "BlockFilesTests", dependencies: ["BlockFiles", "TestSupport"]),
        .testTarget(name: "ChainIndexTests", dependencies: ["ChainIndex", "BlockReader", "TestChain", "TestSupport", "virtualchain"]),
        .testTarget(name: "BlockReaderTests", dependencies: ["BlockReader", "ChainIndex", "BlockFiles", "BitcoinWire", "TestChain", "TestSupport"]),
        .testTarget(name: "VirtualchainTests", dependencies: ["Virtualchain", "Proofs", "Importer", "Names", "Reference", "TestChain", "TestSupport", "virtualchain", "BlockFiles", "BlockReader", "ChainIndex", "BitcoinWire"]),
        .testTarget(name: "NamesTests", dependencies: ["Names", "Virtualchain", "BitcoinWire", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoints", "BitcoinWire", "BlockFiles", "ConsensusHashing", "TestSupport"]),
        .testTarget(name: "ImporterTests", dependencies: ["Importer", "Checkpoints", "ConsensusHashing", "Virtualchain", "Names", "TestChain", "TestSupport", "virtualchain", "ImportFaultHarness", "BlockFiles", "ChainIndex", "BitcoinWire"]),
        .testTarget(name: "TestChainTests", dependencies: ["TestChain", "BlockFiles", "BitcoinWire", "TestSupport"]),
        .testTarget(name: "ConsensusHashingTests", dependencies: ["ConsensusHashing", "BitcoinWire"]),
        .testTarget(name: "ProofsTests", dependencies: ["Proofs", "ConsensusHashing", "BitcoinWire"]),
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "Virtualchain", "BitcoinWire", "TestSupport"]),
        .testTarget(name: "VirtualchainCommandsTests", dependencies: [
            "VirtualchainCommands", "Reference", "ChainIndex", "BlockFiles", "ConsensusHashing", "BitcoinWire",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "CommandLineTests", dependencies: ["TestChain", "Virtualchain", "BlockFiles", "BitcoinWire", "TestSupport", "virtualchain"]),
    ]
)
