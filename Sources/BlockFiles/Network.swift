import BitcoinWire

/// A Bitcoin network: what identifies its block files and where its genesis block comes from.
public enum Network: String, CaseIterable, Sendable {
    case mainnet, testnet3, testnet4, signet, regtest

    /// The 4 bytes that start every record in `blk*.dat` and `rev*.dat` (`pchMessageStart`).
    public var magic: [UInt8] {
        switch self {
        case .mainnet: return [0xf9, 0xbe, 0xb4, 0xd9]
        case .testnet3: return [0x0b, 0x11, 0x09, 0x07]
        case .testnet4: return [0x1c, 0x16, 0x3f, 0x28]
        case .signet: return [0x0a, 0x03, 0xcf, 0x40]
        case .regtest: return [0xfa, 0xbf, 0xb5, 0xda]
        }
    }

    /// The magic as the little-endian UInt32 a record scanner compares against.
    public var magicValue: UInt32 {
        magic.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    /// Core's datadir subfolder for this network ("" for mainnet).
    public var dataDirectorySubfolder: String {
        switch self {
        case .mainnet: return ""
        case .testnet3: return "testnet3"
        case .testnet4: return "testnet4"
        case .signet: return "signet"
        case .regtest: return "regtest"
        }
    }

    /// Blocks between subsidy halvings (`nSubsidyHalvingInterval`).
    public var subsidyHalvingInterval: Int { self == .regtest ? 150 : 210_000 }

    /// The block subsidy at `height`, in satoshis.
    public func subsidy(atHeight height: Int) -> Int64 {
        let halvings = height / subsidyHalvingInterval
        if halvings >= 64 { return 0 }
        return (50 * 100_000_000) >> Int64(halvings)
    }

    /// The genesis block, built the way `CreateGenesisBlock` in Core's chainparams does.
    public var genesisBlock: GenesisBlock { GenesisBlock(network: self) }

    public var genesisHash: BlockHash { genesisBlock.header.hash }

    /// Finds a network by its name (also accepts "main", "test", "testnet").
    public init?(name: String) {
        switch name.lowercased() {
        case "mainnet", "main": self = .mainnet
        case "testnet3", "testnet", "test": self = .testnet3
        case "testnet4": self = .testnet4
        case "signet": self = .signet
        case "regtest": self = .regtest
        default: return nil
        }
    }

    /// The network whose magic equals these 4 bytes, if any.
    public static func fromMagic(_ value: UInt32) -> Network? {
        allCases.first { $0.magicValue == value }
    }
}

/// A network's genesis block: header and its single coinbase transaction.
public struct GenesisBlock: Sendable {
    public let header: BlockHeader
    public let coinbase: Transaction

    init(network: Network) {
        let satoshiKey = [UInt8](hex: "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")!
        var message = "The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
        var outputKey = satoshiKey
        let time: UInt32, nonce: UInt32, bits: UInt32
        switch network {
        case .mainnet: (time, nonce, bits) = (1_231_006_505, 2_083_236_893, 0x1d00_ffff)
        case .testnet3: (time, nonce, bits) = (1_296_688_602, 414_098_458, 0x1d00_ffff)
        case .testnet4:
            (time, nonce, bits) = (1_714_777_860, 393_743_547, 0x1d00_ffff)
            message = "03/May/2024 000000000000000000001ebd58c244970b3aa9d783bb001011fbe8ea8e98e00e"
            outputKey = [UInt8](repeating: 0, count: 33)
        case .signet: (time, nonce, bits) = (1_598_918_400, 52_613_770, 0x1e03_77ae)
        case .regtest: (time, nonce, bits) = (1_296_688_602, 2, 0x207f_ffff)
        }
        // scriptSig = CScript() << 486604799 << CScriptNum(4) << message
        let scriptSig = Script.push(Script.scriptNum(486_604_799)) + Script.push(Script.scriptNum(4)) + Script.push(Array(message.utf8))
        coinbase = Transaction(
            version: 1,
            inputs: [TxIn(previousOutput: .null, scriptSig: scriptSig)],
            outputs: [TxOut(value: 50 * 100_000_000, scriptPubKey: Script.p2pk(outputKey))]
        )
        header = BlockHeader(version: 1, previousBlockHash: .zero, merkleRoot: coinbase.txid.rawHash, time: time, bits: bits, nonce: nonce)
    }

    /// The serialized block (header, one-transaction count, coinbase).
    public var serialized: [UInt8] {
        var writer = ByteWriter(capacity: 300)
        header.encode(to: &writer)
        writer.writeCompactSize(1)
        coinbase.encode(to: &writer)
        return writer.bytes
    }
}
