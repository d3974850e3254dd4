import BitcoinWire
import BlockFiles
import BlockReader
import FuzzSupport

/// The path from a block to its candidates, senders and fees: the block parser, the undo decoder,
/// the "record fits this block" check, and candidate extraction with the undo data, with previous
/// outputs found by the fallback pass, and with neither. Input: a 4-byte little-endian block
/// length, the block, then a `CBlockUndo`. Every candidate's fee must be a money-range value.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = input(data, size)
    guard bytes.count >= 4 else { return 0 }
    let blockLength = min(Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self))), bytes.count - 4)
    let blockBytes = UnsafeRawBufferPointer(rebasing: bytes[4..<(4 + blockLength)])
    let undoBytes = UnsafeRawBufferPointer(rebasing: bytes[(4 + blockLength)...])
    guard let view = try? BlockView.parse(blockBytes) else { return 0 }
    // Any nulldata becomes a candidate: a 1-byte magic taken from the first one, every opcode.
    guard let first = view.transactions.lazy.compactMap(\.nullData).first(where: { $0.count >= 2 }) else { return 0 }
    let filter = OperationFilter(magic: [first[0]])  // every opcode
    let spent = try? UndoFormat.decodeBlockUndo(undoBytes)
    var runs: [(SpentCoins?, [OutPoint: TxOut])] = [(nil, [:])]
    if let spent {
        // The replay's lazy decoder must agree with the full decoder and `fits`.
        let fits = SenderResolver.fits(spent, view)
        let every = Array(1..<max(1, view.transactions.count))
        let lazy = try? SenderResolver.decode(undoBytes, ifItFits: view, keeping: every)
        precondition((lazy != nil) == fits, "lazy undo decoding disagrees with fits")
        if let lazy { for i in every { precondition(lazy[i] == spent[i - 1], "lazy undo decoding disagrees with the full decoder") } }
        // A record the checksum identifies is read only as far as its last wanted transaction:
        // where the whole record fits, that reading gives the same coins for every choice.
        if fits {
            for wanted in [every, Array(every.prefix(1)), Array(every.suffix(1)), every.filter { $0 % 2 == 0 }] {
                let identified = try? SenderResolver.decode(undoBytes, ifItFits: view, keeping: wanted, identified: true)
                precondition(identified != nil, "an identified record that fits is refused")
                for i in wanted { precondition(identified?[i] == spent[i - 1], "identified undo decoding disagrees with the full decoder") }
            }
        }
        runs.append((SpentCoins(all: spent), [:]))
        // The same coins as the fallback pass would find them: by the outpoints the inputs name.
        var fallback: [OutPoint: TxOut] = [:]
        for (i, tx) in view.transactions.dropFirst().enumerated() where i < spent.count {
            for (input, coin) in zip(tx.inputs(), spent[i]) {
                fallback[OutPoint(txid: input.previousTxid, index: input.previousIndex)] = coin.output
            }
        }
        runs.append((nil, fallback))
    }
    for (coins, fallback) in runs {
        guard let candidates = try? CandidateExtraction.candidates(in: view, height: 1, hash: view.hash, filter: filter,
                                                                   spent: coins, fallback: fallback) else { continue }
        for candidate in candidates {
            if let fee = candidate.fee { precondition(Money.inRange(fee), "fee outside the money range") }
            precondition(candidate.outputs.allSatisfy { Money.inRange($0.value) }, "output outside the money range")
        }
    }
    return 0
}

@_cdecl("FuzzCandidates_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
