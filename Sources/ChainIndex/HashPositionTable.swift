import BitcoinWire

/// The position of each block's first record, by block hash: an open-addressing table of
/// positions probed by the hash's first eight bytes (random in a block hash), checked against
/// the entries themselves. About a sixth of a `Dictionary<BlockHash, Int>`'s memory at
/// mainnet's length (16 MB for a million blocks), and no SipHash per lookup.
struct HashPositionTable: Sendable {
    /// Position + 1 per slot; 0 is empty.
    private var slots: [Int]
    private var mask: Int
    /// Mixed into the probe start, so that crafted block files cannot line hashes up in one
    /// probe sequence.
    private let seed = UInt64.random(in: .min ... .max)

    /// Slots per entry at least: probes stay short at a load factor of one half.
    static let slotsPerEntry = 2

    init(capacity: Int = 0) {
        var size = 16
        while size < capacity * Self.slotsPerEntry { size <<= 1 }
        slots = [Int](repeating: 0, count: size)
        mask = size - 1
    }

    private func start(_ hash: BlockHash) -> Int {
        Int(truncatingIfNeeded: ((hash.rawHash.a ^ seed) &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
    }

    /// Where `hash` is: its position among `entries` if present, and the slot that holds it
    /// or, if absent, the empty slot that would.
    private func probe(_ hash: BlockHash, in entries: [BlockEntry]) -> (slot: Int, position: Int?) {
        var i = start(hash)
        while slots[i] != 0 {
            let position = slots[i] - 1
            if entries[position].hash == hash { return (i, position) }
            i = (i + 1) & mask
        }
        return (i, nil)
    }

    /// The position of `hash` among `entries`, if present.
    func find(_ hash: BlockHash, in entries: [BlockEntry]) -> Int? { probe(hash, in: entries).position }

    /// Records `position` for `hash` unless the hash is already there; returns the existing
    /// position then. The table must have room for it (`init(capacity:)`, `reserve`).
    mutating func insert(_ hash: BlockHash, position: Int, in entries: [BlockEntry]) -> Int? {
        let found = probe(hash, in: entries)
        if let existing = found.position { return existing }
        slots[found.slot] = position + 1
        return nil
    }

    /// Makes room for `count` entries, rebuilding the table at twice the size when it would be
    /// more than half full (the growth of a follow: amortised constant per block). `entries` are
    /// those inserted so far (a rebuild inserts every first record among them again): reserve
    /// before appending the next one.
    mutating func reserve(_ count: Int, entries: [BlockEntry]) {
        guard count * Self.slotsPerEntry > slots.count else { return }
        var grown = HashPositionTable(capacity: count * Self.slotsPerEntry)
        for i in entries.indices {
            if case .duplicate = entries[i].status { continue }
            _ = grown.insert(entries[i].hash, position: i, in: entries)
        }
        self = grown
    }
}
