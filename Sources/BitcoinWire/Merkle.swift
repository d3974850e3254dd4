/// Bitcoin's merkle tree over transaction hashes (the last node of an odd row is paired with itself).
public enum Merkle {
    /// The merkle root of `leaves`; also reports whether two identical siblings were hashed together
    /// anywhere (CVE-2012-2459: such a tree has a twin with a duplicated transaction list).
    public static func root(_ leaves: [Hash256]) -> (root: Hash256, mutated: Bool) {
        guard !leaves.isEmpty else { return (.zero, false) }
        var row = leaves
        var mutated = false
        var pair = [Hash256](repeating: .zero, count: 2)
        while row.count > 1 {
            let originalCount = row.count
            if row.count % 2 == 1 { row.append(row[row.count - 1]) }
            var next = [Hash256]()
            next.reserveCapacity(row.count / 2)
            for i in stride(from: 0, to: row.count, by: 2) {
                if i + 1 < originalCount && row[i] == row[i + 1] { mutated = true }
                pair[0] = row[i]; pair[1] = row[i + 1]
                next.append(pair.withUnsafeBytes { Hashes.dsha256($0) })
            }
            row = next
        }
        return (row[0], mutated)
    }
}
