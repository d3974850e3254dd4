import BitcoinWire

/// The activation heights of the consensus rules this reader checks, one value per network, as
/// Bitcoin Core's `kernel/chainparams.cpp` sets them (`CMainParams`, `CTestNetParams`,
/// `CTestNet4Params`, `SigNetParams`, `CRegTestParams`). Each check of ours applies only where
/// Core applies it: `rules(atHeight:)` turns a height into the `BlockRules` that
/// `BlockView.verify(rules:)` enforces.
public struct ConsensusParameters: Sendable, Equatable {
    /// `consensus.BIP34Height`: from here the coinbase starts with the block's height
    /// (`ContextualCheckBlock`, "bad-cb-height") and the header version is at least 2.
    public var bip34Height: Int
    /// `consensus.BIP66Height` (strict DER signatures): header version at least 3 from here.
    public var bip66Height: Int
    /// `consensus.BIP65Height` (CHECKLOCKTIMEVERIFY): header version at least 4 from here.
    public var bip65Height: Int
    /// `consensus.SegwitHeight`: from here a coinbase witness commitment is checked; before it
    /// commitment outputs are ignored and every witness is refused ("unexpected-witness").
    public var segwitHeight: Int

    public init(bip34Height: Int, bip66Height: Int, bip65Height: Int, segwitHeight: Int) {
        self.bip34Height = bip34Height
        self.bip66Height = bip66Height
        self.bip65Height = bip65Height
        self.segwitHeight = segwitHeight
    }

    /// The rules Core applies to a block at `height` (`DeploymentActiveAt`: active from the height on).
    public func rules(atHeight height: Int) -> BlockRules {
        let minimumVersion: Int32 = height >= bip65Height ? 4 : height >= bip66Height ? 3 : height >= bip34Height ? 2 : 1
        return BlockRules(height: height, coinbaseHeight: height >= bip34Height, minimumVersion: minimumVersion,
                          segwit: height >= segwitHeight)
    }

    /// Mainnet. BIP34 at block 000000000000024b89b42a942fe0d9fea3bb44ab7bd1b19115dd6a759c0808b8,
    /// BIP66 at 00000000000000000379eaa19dce8c9b722d46ae6a57c2f1a988119488b50931, BIP65 at
    /// 000000000000000004c2b624ed5d7756c508d90fd0da2c7c679febfa6c4735f0, segwit at
    /// 0000000000000000001c8018d9cb3b742ef25114f27563e3fc4a1902167f9893.
    public static let mainnet = ConsensusParameters(bip34Height: 227_931, bip66Height: 363_725, bip65Height: 388_381, segwitHeight: 481_824)
    /// Testnet3. BIP34 at 0000000023b3a96d3484e5abb3755c413e7d41500f8e2a5c3f0dd01299cd8ef8, BIP66
    /// at 000000002104c8c45e99a8853285a3b592602a3ccde2b832481da85e9e4ba182, BIP65 at
    /// 00000000007f6655f22f98e72ed80d8b06dc761d5da09df0fa1dc4be4f861eb6, segwit at
    /// 00000000002b980fcd729daaa248fd9316a5200e9b367f4ff2c42453e84201ca.
    public static let testnet3 = ConsensusParameters(bip34Height: 21_111, bip66Height: 330_776, bip65Height: 581_885, segwitHeight: 834_624)
    /// Testnet4 (BIP94): every buried deployment active from block 1.
    public static let testnet4 = ConsensusParameters(bip34Height: 1, bip66Height: 1, bip65Height: 1, segwitHeight: 1)
    /// The default signet: every buried deployment active from block 1.
    public static let signet = ConsensusParameters(bip34Height: 1, bip66Height: 1, bip65Height: 1, segwitHeight: 1)
    /// Regtest without `-testactivationheight`: BIP34/65/66 from block 1, segwit from genesis.
    public static let regtest = ConsensusParameters(bip34Height: 1, bip66Height: 1, bip65Height: 1, segwitHeight: 0)
}

extension Network {
    /// This network's activation heights.
    public var consensus: ConsensusParameters {
        switch self {
        case .mainnet: return .mainnet
        case .testnet3: return .testnet3
        case .testnet4: return .testnet4
        case .signet: return .signet
        case .regtest: return .regtest
        }
    }
}
