/// Bitcoin's merkle tree over transaction hashes (the last node of an odd row is paired with itself).
public enum Merkle {
    /// The merkle root of transaction ids (or any leaves of one meaning).
    public static func root<Leaf: HashNewtype>(_ leaves: [Leaf]) -> (root: Hash256, mutated: Bool) {
        root(leaves.map(\.rawHash))
    }

    /// The merkle root of `leaves`; also reports whether two identical siblings were hashed together
    /// anywhere (CVE-2012-2459: such a tree has a twin with a duplicated transaction list).
    public static func root(_ leaves: [Hash256]) -> (root: Hash256, mutated: Bool) {
        guard !leaves.isEmpty else { return (.zero, false) }
        var row = leaves
        var mutated = false
        row.reserveCapacity(row.count + 1)
        while row.count > 1 {
            let originalCount = row.count
            if row.count % 2 == 1 { row.append(row[row.count - 1]) }
            for i in stride(from: 0, to: row.count, by: 2) where i + 1 < originalCount && row[i] == row[i + 1] { mutated = true }
            // In place: node j (children 2j, 2j+1) overwrites slot j, which is read before.
            // Nodes two at a time (`Hashes.dsha256Pair64`): the children of both are side by side.
            let nodes = row.count / 2
            row.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                var j = 0
                while j + 1 < nodes {
                    let (left, right) = Hashes.dsha256Pair64(base + 64 * j, base + 64 * (j + 1))
                    base.storeBytes(of: left, toByteOffset: 32 * j, as: Hash256.self)
                    base.storeBytes(of: right, toByteOffset: 32 * (j + 1), as: Hash256.self)
                    j += 2
                }
                if j < nodes {
                    let node = Hashes.dsha256(UnsafeRawBufferPointer(start: base + 64 * j, count: 64))
                    base.storeBytes(of: node, toByteOffset: 32 * j, as: Hash256.self)
                }
            }
            row.removeLast(row.count - nodes)
        }
        return (row[0], mutated)
    }
}

extension Merkle {
    /// The merkle branch of leaf `index` among leaves of one meaning (txids, say).
    public static func branch<Leaf: HashNewtype>(_ leaves: [Leaf], index: Int) -> [Hash256] {
        branch(leaves.map(\.rawHash), index: index)
    }

    /// The siblings on the path from leaf `index` to the root, leaves first (an odd level's last
    /// node is paired with itself, as Bitcoin's tree does).
    public static func branch(_ leaves: [Hash256], index: Int) -> [Hash256] {
        precondition(leaves.indices.contains(index), "leaf index outside the tree")
        var level = leaves, position = index, branch: [Hash256] = []
        while level.count > 1 {
            if level.count % 2 == 1 { level.append(level[level.count - 1]) }
            branch.append(level[position ^ 1])
            var next: [Hash256] = []
            next.reserveCapacity(level.count / 2)
            for j in stride(from: 0, to: level.count, by: 2) {
                var a = level[j], b = level[j + 1]
                next.append(withUnsafeBytes(of: &a) { x in withUnsafeBytes(of: &b) { y in Hashes.dsha256(parts: x, y) } })
            }
            level = next
            position /= 2
        }
        return branch
    }
}
