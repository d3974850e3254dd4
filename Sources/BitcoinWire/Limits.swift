/// Consensus and serialization limits, each with the reason it exists (after btcd's `wire`).
public enum Limits {
    /// Core's `MAX_SIZE`: a CompactSize above this is rejected as "size too large" by every
    /// deserializer in Bitcoin Core, whatever it counts.
    public static let maxCompactSize: UInt64 = 0x0200_0000

    /// `MAX_BLOCK_SERIALIZED_SIZE`: a serialized block (with witness) never exceeds 4,000,000 bytes,
    /// so a blk record claiming more is damage, not a block.
    public static let maxBlockSerializedSize = 4_000_000

    /// `MAX_BLOCK_WEIGHT`.
    public static let maxBlockWeight = 4_000_000

    /// `MAX_BLOCK_SIGOPS_COST`.
    public static let maxBlockSigOpsCost = 80_000

    /// `MAX_SCRIPT_SIZE`: scripts above it are unspendable, and Core's undo format stores them specially.
    public static let maxScriptSize = 10_000

    /// `WITNESS_SCALE_FACTOR`.
    public static let witnessScaleFactor = 4

    /// `COINBASE_MATURITY`: coinbase outputs are spendable 100 blocks after the block that made them.
    public static let coinbaseMaturity = 100

    /// Smallest possible serialized input (32 txid + 4 vout + 1 script length + 4 sequence); a count of
    /// inputs larger than remaining bytes / this is impossible and rejected before allocating.
    public static let minInputSize = 41
    /// Smallest possible serialized output (8 value + 1 script length).
    public static let minOutputSize = 9
}
