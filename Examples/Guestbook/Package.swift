// swift-tools-version:6.0
// A user's own state machine with the whole `virtualchain` command line: this package depends on
// the project by path and builds an executable named `guestbook`.
import PackageDescription

let package = Package(
    name: "Guestbook",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "virtualchain", path: "../..")],
    targets: [
        .executableTarget(
            name: "guestbook",
            dependencies: [
                .product(name: "BitcoinWire", package: "virtualchain"),
                .product(name: "Virtualchain", package: "virtualchain"),
                .product(name: "VirtualchainCommands", package: "virtualchain"),
            ]
        ),
    ]
)
