// swift-tools-version:6.1
// Benchmarks live in their own package so `swift test` never builds package-benchmark.
// Run from this directory: `swift package benchmark` (release mode is implied).
import PackageDescription

let package = Package(
    name: "virtualchain-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "virtualchain", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ReaderBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "BitcoinWire", package: "virtualchain"),
                .product(name: "BlockFiles", package: "virtualchain"),
                .product(name: "ChainIndex", package: "virtualchain"),
                .product(name: "BlockReader", package: "virtualchain"),
                .product(name: "Measuring", package: "virtualchain"),
                .product(name: "TestChain", package: "virtualchain"),
            ],
            path: "Benchmarks/ReaderBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "ReplayBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "BlockFiles", package: "virtualchain"),
                .product(name: "ChainIndex", package: "virtualchain"),
                .product(name: "Checkpoints", package: "virtualchain"),
                .product(name: "ConsensusHashing", package: "virtualchain"),
                .product(name: "Importer", package: "virtualchain"),
                .product(name: "Names", package: "virtualchain"),
                .product(name: "Reference", package: "virtualchain"),
                .product(name: "TestChain", package: "virtualchain"),
                .product(name: "Virtualchain", package: "virtualchain"),
            ],
            path: "Benchmarks/ReplayBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
