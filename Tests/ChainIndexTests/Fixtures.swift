import Foundation
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import BlockReader
@testable import ChainIndex

/// A temporary blocks directory assembled from pieces (records built here, corpus files linked,
/// never copied into the repository).
final class BlocksFixture {
    let url: URL
    var path: String { url.path }

    init(_ name: String = #function) throws {
        url = try TestPaths.temporaryDirectory(name)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: url.appendingPathComponent(name))
    }

    func link(_ name: String, to target: URL) throws {
        try FileManager.default.createSymbolicLink(at: url.appendingPathComponent(name), withDestinationURL: target)
    }

    static func record(_ block: [UInt8], network: Network = .mainnet) -> [UInt8] {
        var out = network.magic
        withUnsafeBytes(of: UInt32(block.count).littleEndian) { out.append(contentsOf: $0) }
        return out + block
    }

    func open(_ network: Network = .mainnet) throws -> BlocksDirectory {
        try BlocksDirectory(path: path, network: network)
    }
}

struct ReadResult {
    var index: ChainIndex
    var rows: [(entry: EntryIndex, txids: [Txid], wtxids: [Wtxid], merkle: Hash256)]
}

/// Header pass plus block pass (verification on) over the best chain or, with `all`, every entry.
func read(_ directory: BlocksDirectory, all: Bool = false, threads: Int = 2, window: Int = 8) throws -> ReadResult {
    let index = try ChainIndex(directory: directory)
    var rows: [(EntryIndex, [Txid], [Wtxid], Hash256)] = []
    let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(verify: true, threads: threads, window: window))
    try pass.run(entries: all ? Array(index.entries.indices) : index.bestChain, transform: { block in
        (block.view.txids(), block.view.transactions.map { $0.wtxid() }, block.view.header.merkleRoot)
    }, consume: { i, value in rows.append((i, value.0, value.1, value.2)) })
    return ReadResult(index: index, rows: rows)
}

enum Corpus {
    static let mainnet = TestPaths.corpus.appendingPathComponent("mainnet")
    static let forks = TestPaths.corpus.appendingPathComponent("forks")
    static let block540107 = mainnet.appendingPathComponent("block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk")
    static let block574200 = mainnet.appendingPathComponent("block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk")
    static let heights1to255 = mainnet.appendingPathComponent("blk-heights-1-255.dat")
    static let height277647 = mainnet.appendingPathComponent("blk-height-277647.dat")

    static func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
}
