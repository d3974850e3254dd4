import Testing
@testable import BitcoinWire
@testable import BlockFiles
@testable import ChainIndex

/// The hash-to-entry table alone: growth from empty as a follow grows it, duplicates, absent
/// hashes, and hashes crafted to share their probe start.
@Suite struct HashPositionTableTests {
    func entry(_ hash: Hash256) -> BlockEntry {
        BlockEntry(HeaderRecord(hash: BlockHash(hash), previous: .zero, bits: 0, location: RecordLocation(file: 0, offset: 0, size: 0)))
    }

    @Test func everyHashIsFoundAfterGrowthAndDuplicatesNameTheFirst() {
        var random = SystemRandomNumberGenerator()
        var table = HashPositionTable()
        var entries: [BlockEntry] = []
        var hashes: [BlockHash] = []
        for i in 0..<20_000 {
            let hash = Hash256(a: random.next(), b: random.next(), c: random.next(), d: random.next())
            table.reserve(entries.count + 1, entries: entries)  // as a follow appends: room first
            entries.append(entry(hash))
            hashes.append(BlockHash(hash))
            #expect(table.insert(BlockHash(hash), position: i, in: entries) == nil)
        }
        for (i, hash) in hashes.enumerated() { #expect(table.find(hash, in: entries) == i) }
        // A second record of a block: the first one's position comes back, nothing is inserted.
        table.reserve(entries.count + 1, entries: entries)
        entries.append(entries[123])
        #expect(table.insert(hashes[123], position: entries.count - 1, in: entries) == 123)
        entries[entries.count - 1].status = .duplicate(of: EntryIndex(123))
        // A rebuild leaves the duplicate out and still finds the first.
        table.reserve(entries.count * 4, entries: entries)
        #expect(table.find(hashes[123], in: entries) == 123)
        for (i, hash) in hashes.enumerated() { #expect(table.find(hash, in: entries) == i) }
        #expect(table.find(hashes[123], in: entries) == 123)
        for _ in 0..<1_000 {
            let absent = BlockHash(Hash256(a: random.next(), b: random.next(), c: random.next(), d: random.next()))
            #expect(table.find(absent, in: entries) == nil)
        }
    }

    /// Hashes with the same first eight bytes (what the probe starts from) are told apart by the
    /// entries themselves, however long the probe sequence they share.
    @Test func hashesSharingTheirProbeStartAreToldApart() {
        var table = HashPositionTable(capacity: 600)
        var entries: [BlockEntry] = []
        for i in 0..<500 { entries.append(entry(Hash256(a: 0xdead_beef, b: UInt64(i), c: 7, d: 9))) }
        for i in entries.indices { #expect(table.insert(entries[i].hash, position: i, in: entries) == nil) }
        for i in entries.indices { #expect(table.find(entries[i].hash, in: entries) == i) }
        #expect(table.find(BlockHash(Hash256(a: 0xdead_beef, b: 500, c: 7, d: 9)), in: entries) == nil)
    }
}
