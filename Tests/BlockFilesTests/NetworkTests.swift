import Testing
@testable import BitcoinWire
@testable import BlockFiles

@Suite struct NetworkTests {
    @Test(arguments: [
        (Network.mainnet, "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
        (.testnet3, "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943"),
        (.testnet4, "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043"),
        (.signet, "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6"),
        (.regtest, "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"),
    ])
    func genesisHashes(network: Network, hash: String) {
        #expect(network.genesisHash.displayHex == hash)
        #expect(ProofOfWork.check(hash: network.genesisHash, bits: network.genesisBlock.header.bits))
    }

    @Test func magicRoundTrip() {
        for network in Network.allCases {
            #expect(Network.fromMagic(network.magicValue) == network)
        }
        #expect(Network.regtest.magic == [0xfa, 0xbf, 0xb5, 0xda])
    }

    @Test func regtestHalvesEvery150Blocks() {
        #expect(Network.regtest.subsidy(atHeight: 149) == 5_000_000_000)
        #expect(Network.regtest.subsidy(atHeight: 150) == 2_500_000_000)
        #expect(Network.mainnet.subsidy(atHeight: 840_000) == 312_500_000)
        #expect(Network.regtest.subsidy(atHeight: 150 * 64) == 0)
    }
}

@Suite struct UndoFormatTests {
    // Core's compress_tests.
    @Test(arguments: [(UInt64(0), UInt64(0)), (1, 1), (1_000_000, 7), (100_000_000, 9), (5_000_000_000, 50), (2_100_000_000_000_000, 21_000_000)])
    func compressAmountVectors(amount: UInt64, compressed: UInt64) {
        #expect(UndoFormat.compressAmount(amount) == compressed)
        #expect(UndoFormat.decompressAmount(compressed) == amount)
    }

    @Test func compressAmountRoundTrips() {
        var x: UInt64 = 1
        for _ in 0..<100_000 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let amount = x % 2_100_000_000_000_001
            #expect(UndoFormat.decompressAmount(UndoFormat.compressAmount(amount)) == amount)
        }
    }

    @Test func scriptCompression() {
        let hash = [UInt8](repeating: 0xab, count: 20)
        func compressed(_ script: [UInt8]) -> String {
            var writer = ByteWriter()
            UndoFormat.writeCompressedScript(script, to: &writer)
            return writer.bytes.hex
        }
        #expect(compressed(Script.p2pkh(hash)) == "00" + hash.hex)
        #expect(compressed(Script.p2sh(hash)) == "01" + hash.hex)
        let key = [0x03] + [UInt8](repeating: 0x11, count: 32)
        #expect(compressed(Script.p2pk(key)) == "03" + [UInt8](repeating: 0x11, count: 32).hex)
        let program = Script.p2wsh([UInt8](repeating: 0x22, count: 32))
        #expect(compressed(program) == "28" + program.hex)  // VARINT(34 + 6) then the script
    }

    @Test func coinEncoding() {
        var writer = ByteWriter()
        UndoFormat.writeCoin(TxOut(value: 5_000_000_000, scriptPubKey: Script.p2sh([UInt8](repeating: 1, count: 20))),
                             height: 120, isCoinbase: true, to: &writer)
        // VARINT(241) = 8071, version dummy 00, VARINT(50) = 32, then the compressed P2SH script.
        #expect(writer.bytes.hex == "80710032" + "01" + [UInt8](repeating: 1, count: 20).hex)
    }
}

@Suite struct XorKeyTests {
    @Test func appliesKeyByFileOffset() {
        let key = XorKey(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!
        let data = (0..<37).map { UInt8($0) }
        for offset in 0..<16 {
            var fast = data
            key.apply(to: &fast, fileOffset: offset)
            let slow = data.enumerated().map { $0.element ^ key.bytes[($0.offset + offset) % 8] }
            #expect(fast == slow, "offset \(offset)")
        }
    }

    @Test func zeroKeyIsIdentity() {
        #expect(XorKey(bytes: [UInt8](repeating: 0, count: 8))!.isIdentity)
        #expect(XorKey(bytes: [1, 2, 3]) == nil)
    }
}
