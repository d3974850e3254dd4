import Foundation
import Testing
import TestSupport
@testable import BlockFiles
@testable import ChainIndex
@testable import TestChain
@testable import Virtualchain

@Suite struct ReadmeExampleTests {
    static func example(in text: String) -> String? {
        guard let start = text.range(of: "// README-EXAMPLE-BEGIN\n"), let end = text.range(of: "// README-EXAMPLE-END") else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    @Test func readmeShowsTheCompiledExampleInUnder40Lines() throws {
        let source = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("Tests/VirtualchainTests/Guestbook.swift"), encoding: .utf8)
        let readme = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let code = try #require(Self.example(in: source))
        #expect(readme.contains(code), "README.md must show Tests/VirtualchainTests/Guestbook.swift's example verbatim")
        let example = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("Examples/Guestbook/Sources/guestbook/Guestbook.swift"), encoding: .utf8)
        #expect(Self.example(in: example) == code, "Examples/Guestbook must hold the README's machine verbatim")
        let machineLines = code.split(separator: "\n").filter { !$0.hasPrefix("//") }
        #expect(machineLines.count < 40)
    }

    @Test func theExampleRuns() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .blocks(140)
        options.seed = "guestbook"
        options.users = 8  // few senders, so some fill their 3 entries
        options.opMix = try OpMix(parsing: "rate=0.3,magics=hi:1,payload=1-40,malformed=0,foreign=0,multi=0,opcodes=!")
        let summary = try TestChainGenerator.generate(options, out: root.appendingPathComponent("chain").path)
        let blocks = try BlocksDirectory(path: root.appendingPathComponent("chain/blocks").path, network: .regtest)
        let engine = try Engine(machine: Guestbook(), stateDirectory: root.appendingPathComponent("state").path, network: .regtest)
        let result = try engine.run(directory: blocks, index: ChainIndex(directory: blocks))
        let signed = summary.ops.first { $0.magic == "hi" }!.count
        #expect(result.accepted + result.rejected == signed)
        #expect(result.accepted > 0 && result.rejected > 0)
        #expect(result.accepted <= 3 * 8)
    }
}
