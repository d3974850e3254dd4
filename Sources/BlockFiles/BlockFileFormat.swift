/// Bitcoin Core's block storage layout (`node/blockstorage.cpp`): the names of the files and the
/// framing of each record.
public enum BlockFileFormat {
    /// Network magic (4 bytes) then the payload's size (4 bytes, little-endian) before each
    /// block or undo record.
    public static let recordHeaderSize = 8

    /// `blk%05d.dat`
    public static func blockFileName(_ number: Int) -> String { fileName("blk", number) }
    /// `rev%05d.dat`
    public static func undoFileName(_ number: Int) -> String { fileName("rev", number) }

    private static func fileName(_ prefix: String, _ number: Int) -> String {
        let digits = String(number)
        return prefix + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".dat"
    }
}
