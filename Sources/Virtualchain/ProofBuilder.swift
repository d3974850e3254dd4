import BitcoinWire
import BlockFiles
import ChainIndex
import Foundation
import Proofs

public struct ProofBuilderError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builds light-client proofs (docs/proofs.md) from a state: the prover beside the state store. The
/// verifier (module `Proofs`) needs none of this.
public enum ProofBuilder {
    /// The hops from `trustedHeight` down to `target`, chosen greedily: from each height, jump
    /// to the lowest height its skip list reveals that is still at or above the target, so the
    /// number of hops grows with the logarithm of the distance.
    public static func hops(trustedHeight: Int, target: Int, firstBlock: Int,
                            consensusHash: (Int) throws -> String, opsHash: (Int) throws -> String) throws -> [Proof.Hop] {
        guard target >= firstBlock, target <= trustedHeight else {
            throw ProofBuilderError("height \(target) is not between the first block \(firstBlock) and the trusted height \(trustedHeight)")
        }
        var hops: [Proof.Hop] = []
        var current = trustedHeight
        while true {
            let heights = ConsensusHash.skipListHeights(height: current, firstBlock: firstBlock)
            hops.append(Proof.Hop(height: current, opsHash: try opsHash(current), previous: try heights.map(consensusHash)))
            if current == target { return hops }
            // current - 1 >= target always qualifies, so there is a next height.
            current = heights.filter { $0 >= target }.min()!
        }
    }

    /// The proof of record `index` of the block at `height` (the newest block's consensus hash
    /// trusted unless `trustedHeight` says otherwise); with `blocks`, the Bitcoin part too.
    public static func proof(store: StateStore, height: Int, recordIndex index: Int, trustedHeight: Int? = nil,
                             blocks: (directory: BlocksDirectory, index: ChainIndex)? = nil) throws -> Proof {
        guard let meta = try store.meta() else { throw ProofBuilderError("\(store.directory) holds no state") }
        guard let tip = try store.tip() else { throw ProofBuilderError("\(store.directory) holds no blocks yet") }
        let trusted = trustedHeight ?? tip.height
        guard trusted <= tip.height, let trustedRow = try store.block(atHeight: trusted) else {
            throw ProofBuilderError("no consensus hash at the trusted height \(trusted) (the state ends at \(tip.height))")
        }
        let records = try store.records(atHeight: height)
        guard records.indices.contains(index) else {
            throw ProofBuilderError("block \(height) has \(records.count) accepted record(s); there is no record \(index)")
        }
        func row(_ h: Int) throws -> StateStore.BlockRow {
            guard let row = try store.block(atHeight: h) else { throw ProofBuilderError("no block \(h) in the state") }
            return row
        }
        let hops = try hops(trustedHeight: trusted, target: height, firstBlock: meta.firstBlock,
                            consensusHash: { try row($0).consensusHash.hex }, opsHash: { try row($0).opsHash.internalHex })
        // A txid is stated only with the Bitcoin part that proves it (docs/proofs.md).
        var txid: String?
        var bitcoin: Proof.Bitcoin?
        if let blocks, let recordTxid = records[index].txid, let vtxindex = records[index].vtxindex {
            bitcoin = try bitcoinPart(blockHash: try row(height).blockHash, height: height, vtxindex: vtxindex, txid: recordTxid, blocks: blocks)
            txid = recordTxid.displayHex
        }
        return Proof(machine: meta.machine, machineVersion: meta.version, network: meta.network, firstBlock: meta.firstBlock,
                     trusted: Proof.Trusted(height: trusted, consensusHash: trustedRow.consensusHash.hex), hops: hops,
                     block: Proof.Block(height: height, records: records.map(\.serialized)), recordIndex: index,
                     txid: txid, bitcoin: bitcoin)
    }

    /// The proof of the record made by transaction `txid`.
    public static func proof(store: StateStore, txid: Txid, trustedHeight: Int? = nil,
                             blocks: (directory: BlocksDirectory, index: ChainIndex)? = nil) throws -> Proof {
        guard let location = try store.recordLocation(txid: txid) else { throw ProofBuilderError("no accepted record of transaction \(txid) in the state") }
        return try proof(store: store, height: location.height, recordIndex: location.position, trustedHeight: trustedHeight, blocks: blocks)
    }

    /// Header, transaction (without witness), its index and merkle branch, and the coinbase with
    /// its branch, from the block files.
    static func bitcoinPart(blockHash: BlockHash, height: Int, vtxindex: Int, txid: Txid,
                            blocks: (directory: BlocksDirectory, index: ChainIndex)) throws -> Proof.Bitcoin {
        guard let entry = blocks.index.entryIndex(of: blockHash) else {
            throw ProofBuilderError("block \(blockHash) at height \(height) is not in \(blocks.directory.path)")
        }
        let bytes = try blocks.directory.blockBytes(at: blocks.index.entries[entry].location)
        return try bytes.withUnsafeBytes { raw throws -> Proof.Bitcoin in
            let view = try BlockView.parse(raw)
            guard view.transactions.indices.contains(vtxindex) else { throw ProofBuilderError("block \(blockHash) has no transaction \(vtxindex)") }
            let txids = view.txids()
            guard txids[vtxindex] == txid else {
                throw ProofBuilderError("transaction \(vtxindex) of block \(blockHash) is \(txids[vtxindex]), not \(txid)")
            }
            return Proof.Bitcoin(blockHeader: Hex.encode(UnsafeRawBufferPointer(rebasing: raw[0..<BlockHeader.size])),
                                 tx: Hex.encode(view.transactions[vtxindex].serializedWithoutWitness()), txIndex: vtxindex,
                                 merkleBranch: Merkle.branch(txids, index: vtxindex).map { Hex.encode($0.bytes) },
                                 coinbase: Hex.encode(view.transactions[0].serializedWithoutWitness()),
                                 coinbaseBranch: Merkle.branch(txids, index: 0).map { Hex.encode($0.bytes) })
        }
    }
}
