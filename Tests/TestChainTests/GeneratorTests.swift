import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import TestChain

/// Small chains with every feature on; 150 blocks gets past coinbase maturity so blocks carry
/// real spends, while staying fast in a debug build.
func smallOptions(seed: String = "7", xor: Bool = true) -> TestChainOptions {
    var options = TestChainOptions()
    options.length = .blocks(150)
    options.seed = seed
    options.xor = xor
    options.stale = 3
    options.reorg = true
    options.shuffleWindow = 12
    options.maxFileSize = 600_000
    options.blockWeight = 160_000
    return options
}

func fileContents(_ directory: URL) throws -> [String: Data] {
    var result: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
        result[name] = try Data(contentsOf: directory.appendingPathComponent(name))
    }
    return result
}

@Suite struct GeneratorTests {
    @Test func sameSeedGivesIdenticalBytesAndDifferentSeedsDiffer() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let a = root.appendingPathComponent("a"), b = root.appendingPathComponent("b"), c = root.appendingPathComponent("c")
        let first = try TestChainGenerator.generate(smallOptions(), out: a.path)
        let second = try TestChainGenerator.generate(smallOptions(), out: b.path)
        let other = try TestChainGenerator.generate(smallOptions(seed: "8"), out: c.path)
        #expect(first.files.count >= 4, "expected blk and rev rotation")
        let filesA = try fileContents(a.appendingPathComponent("blocks"))
        let filesB = try fileContents(b.appendingPathComponent("blocks"))
        #expect(filesA.keys.sorted() == filesB.keys.sorted())
        for (name, data) in filesA { #expect(filesB[name] == data, "\(name) differs between two runs with one seed") }
        #expect(try Data(contentsOf: a.appendingPathComponent("testchain.json")) == Data(contentsOf: b.appendingPathComponent("testchain.json")))
        #expect(second.tipHash == first.tipHash)
        #expect(other.tipHash != first.tipHash)
        #expect(other.mainChain[1] != first.mainChain[1])
    }

    @Test func xorOutputDecodesWithTheKeyAndLeavesPaddingZero() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let plain = root.appendingPathComponent("plain"), obfuscated = root.appendingPathComponent("xor")
        _ = try TestChainGenerator.generate(smallOptions(xor: false), out: plain.path)
        let summary = try TestChainGenerator.generate(smallOptions(xor: true), out: obfuscated.path)
        let keyBytes = [UInt8](try Data(contentsOf: obfuscated.appendingPathComponent("blocks/xor.dat")))
        #expect(keyBytes.count == 8 && keyBytes != [UInt8](repeating: 0, count: 8))
        #expect(summary.xorKey.bytes == keyBytes)
        let key = try #require(XorKey(bytes: keyBytes))
        let plainFiles = try fileContents(plain.appendingPathComponent("blocks"))
        let xorFiles = try fileContents(obfuscated.appendingPathComponent("blocks"))
        var paddingChecked = 0
        for (name, data) in plainFiles {
            let raw = [UInt8](try #require(xorFiles[name]))
            let clear = [UInt8](data)
            #expect(raw.count == clear.count, "\(name)")
            // Data ends where the clear file's trailing zero run begins: padding there stays raw zero.
            let dataEnd = (clear.lastIndex { $0 != 0 } ?? -1) + 1
            var decoded = Array(raw[..<dataEnd])
            key.apply(to: &decoded, fileOffset: 0)
            #expect(decoded == Array(clear[..<dataEnd]), "\(name) does not decode to the unobfuscated file")
            if dataEnd + 64 < raw.count {
                #expect(raw[(dataEnd + 8)...].allSatisfy { $0 == 0 }, "\(name): padding must stay un-obfuscated")
                paddingChecked += 1
            }
        }
        #expect(paddingChecked > 0, "no pre-allocated padding was checked")
        #expect(!xorFiles.keys.contains { $0.hasPrefix("blk") && xorFiles[$0] == plainFiles[$0] })
    }

    @Test func manifestDescribesTheChain() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let summary = try TestChainGenerator.generate(smallOptions(), out: root.path)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("testchain.json"))) as! [String: Any]
        #expect(json["network"] as? String == "regtest")
        #expect((json["tip"] as? [String: Any])?["height"] as? Int == 150)
        #expect((json["tip"] as? [String: Any])?["hash"] as? String == summary.tipHash.displayHex)
        #expect(json["xor_key"] as? String == Hex.encode(summary.xorKey.bytes))
        let counts = try #require(json["counts"] as? [String: Any])
        #expect(counts["blocks"] as? Int == 151)
        #expect(counts["records"] as? Int == 151 + summary.staleBlocks.count)
        let ops = try #require(counts["ops"] as? [String: Int])
        #expect(ops.keys.sorted() == ["id", "omni"])
        #expect(ops.values.reduce(0, +) > 0, "the default op mix should produce operations in 150 blocks")
        let reorg = try #require(json["reorg"] as? [String: Any])
        #expect((reorg["depth"] as? Int ?? 0) >= 1)
        #expect(summary.staleBlocks.count >= 3 + (reorg["depth"] as? Int ?? 0))
        #expect(json["command"] as? String == "virtualchain testchain " + smallOptions().commandLine)
    }

    @Test func sizeModeReachesTheRequestedSize() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = TestChainOptions()
        options.length = .bytes(3 << 20)
        options.blockWeight = 200_000
        options.stale = 2
        let summary = try TestChainGenerator.generate(options, out: root.path)
        #expect(summary.blockBytes >= 3 << 20)
        #expect(summary.blockBytes < (3 << 20) + 400_000)
        #expect(summary.staleBlocks.count >= 2)
    }

    @Test func opMixParsesAndPrintsCanonically() throws {
        let mix = try OpMix(parsing: "rate=0.5,magics=id:2/0x00ff:1,payload=3-9,malformed=0,foreign=0.25,multi=0.1")
        #expect(mix.rate == 0.5)
        #expect(mix.magics.map(\.bytes) == [Array("id".utf8), [0x00, 0xff]])
        #expect(mix.payload == 3...9)
        #expect(try OpMix(parsing: mix.description) == mix)
        #expect(throws: OpMix.ParseError.self) { try OpMix(parsing: "rate=2") }
        #expect(throws: OpMix.ParseError.self) { try OpMix(parsing: "colour=blue") }
        #expect(throws: OpMix.ParseError.self) { try OpMix(parsing: "magics=") }
    }

    @Test func opCountingDecidesAsTheOriginal() {
        let id = Array("id".utf8)
        func count(_ scripts: [[UInt8]]) -> Int {
            var counts = [0]
            OpCounting.count(outputs: scripts, magics: [id], into: &counts)
            return counts[0]
        }
        let op = Script.nullData(id + [UInt8(ascii: "?")] + [1, 2, 3])
        #expect(count([op]) == 1)
        #expect(count([Script.nullData(id)]) == 0)                                   // no opcode byte
        #expect(count([op, Script.nullData(Array("omni".utf8) + [0])]) == 0)         // the last nulldata counts
        #expect(count([op, op + [0x51]]) == 0)                                        // a malformed last OP_RETURN clears
        #expect(count([op + [0x51], op]) == 1)                                        // a well-formed last one decides
        #expect(count([op, [0x51]]) == 1)                                             // a payment after it changes nothing
        #expect(count([[Opcode.opReturn, Opcode.pushData1, 3] + id + [0x24]]) == 1)   // PUSHDATA1 is a data push
        #expect(count([[Opcode.opReturn, Opcode.pushData1, 9] + id + [0x24]]) == 1)   // a push cut short pushes what is there
        #expect(count([[Opcode.opReturn, Opcode.pushData2, 9]]) == 0)                  // a length cut short: empty data
    }
}
