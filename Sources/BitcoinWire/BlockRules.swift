/// The contextual block checks that depend on a block's height, as Bitcoin Core applies them.
///
/// `BitcoinWire` knows no networks: a network's activation heights (module `BlockFiles`,
/// `ConsensusParameters`) turn a height into these rules, and `BlockView.verify(rules:)` applies
/// exactly the ones that are on. A block whose height is unknown (not connected to the chain) gets
/// `contextFree`: only the checks Core makes whatever the height.
public struct BlockRules: Sendable, Equatable {
    /// The height the rules were made for, nil when unknown.
    public var height: Int?
    /// BIP34 (`ContextualCheckBlock`, "bad-cb-height"): the coinbase's scriptSig starts with
    /// `CScript() << height`.
    public var coinbaseHeight: Bool
    /// The lowest header version Core accepts at this height (`ContextualCheckBlockHeader`,
    /// "bad-version"): 2 from BIP34, 3 from BIP66, 4 from BIP65; 1 before.
    public var minimumVersion: Int32
    /// BIP141 (`ContextualCheckBlock`): a witness commitment in the coinbase is checked, and
    /// witness data is allowed where it matches. Before activation Core ignores commitment outputs
    /// and refuses every witness ("unexpected-witness").
    public var segwit: Bool

    public init(height: Int?, coinbaseHeight: Bool, minimumVersion: Int32, segwit: Bool) {
        self.height = height
        self.coinbaseHeight = coinbaseHeight
        self.minimumVersion = minimumVersion
        self.segwit = segwit
    }

    /// The checks Core makes at every height (merkle root, CVE-2012-2459), for blocks of unknown
    /// height; no contextual check at all.
    public static let contextFree = BlockRules(height: nil, coinbaseHeight: false, minimumVersion: 1, segwit: false)
}
