import Foundation
import Testing
import TestSupport
@testable import BitcoinWire
@testable import BlockFiles
@testable import Virtualchain

/// Follow mode against a directory written as bitcoind writes it: a generated chain's blk and rev
/// files arrive in random pieces (records cut anywhere), blk files in order and each rev file
/// only after its blk file (a block's undo record after the block), with or without the space
/// bitcoind reserves ahead (zeros written over later), while the follower polls. Whatever the
/// cuts, it keeps waiting and ends with the state of a one-off import of the final directory.
/// Bounded in time: FOLLOW_PROPERTY_ROUNDS (default 2) rounds per variant; a failing round names
/// its seed, which FOLLOW_PROPERTY_SEED replays.
@Suite(.serialized) struct FollowPropertyTests {
    let chain = CheckpointChain.shared

    struct Stream {
        var files: [(name: String, data: Data)]
        var file = 0, offset = 0
        var isDone: Bool { file >= files.count }
    }

    @Test(arguments: [false, true])
    func aDirectoryWrittenInRandomPiecesEndsAsAOneOffImport(reservedZeros: Bool) throws {
        let rounds = Int(ProcessInfo.processInfo.environment["FOLLOW_PROPERTY_ROUNDS"] ?? "") ?? 2
        let fixed = ProcessInfo.processInfo.environment["FOLLOW_PROPERTY_SEED"].flatMap(UInt64.init)  // to replay a failing round
        for round in 0..<rounds { try oneRound(reservedZeros: reservedZeros, seed: fixed ?? UInt64.random(in: 0...UInt64.max), round: round) }
    }

    func oneRound(reservedZeros: Bool, seed: UInt64, round: Int) throws {
        var rng = SplitMix(seed: seed)
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let live = root.appendingPathComponent("blocks"), state = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: chain.blocks.path).sorted()
        for name in names where !name.hasPrefix("blk") && !name.hasPrefix("rev") {
            try FileManager.default.copyItem(at: chain.blocks.appendingPathComponent(name), to: live.appendingPathComponent(name))
        }
        func stream(_ prefix: String) throws -> Stream {
            Stream(files: try names.filter { $0.hasPrefix(prefix) }.map { ($0, try Data(contentsOf: chain.blocks.appendingPathComponent($0))) })
        }
        var blk = try stream("blk"), rev = try stream("rev")

        let process = Process()
        process.executableURL = TestPaths.executable
        process.arguments = ["import", "--blocksdir", live.path, "--network", "regtest", "--machine", "names", "--state", state.path,
                             "--follow", "--confirmations", "1", "--poll-interval", "0.05", "--checkpoint-every", "20", "--quiet"]
        let log = root.appendingPathComponent("log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        // Written before the follower starts: at least one blk record, so there is a directory to follow.
        try write(&blk, count: 200, reservedZeros: reservedZeros, into: live)
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        func output() -> String { String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self) }

        while !blk.isDone || !rev.isDone {
            // A rev file is written only once its blk file is complete (undo after its block).
            let revMay = !rev.isDone && rev.file < blk.file
            let useRev = revMay && (blk.isDone || rng.next() % 2 == 0)
            let piece = Int(rng.next() % 12_000) + 1
            if useRev { try write(&rev, count: piece, reservedZeros: reservedZeros, into: live) } else { try write(&blk, count: piece, reservedZeros: reservedZeros, into: live) }
            if rng.next() % 8 == 0 { usleep(UInt32(rng.next() % 30_000)) }
            #expect(process.isRunning, "round \(round) (seed \(seed)): the follower exited: \(output())")
            if !process.isRunning { return }
        }
        let deadline = Date().addingTimeInterval(60)
        func tip() -> Int? { (try? StateStore.openForReading(directory: state.path)).flatMap { store in defer { store.close() }; return try? store.tip()?.height } }
        while Date() < deadline, tip() != chain.summary.tipHeight, process.isRunning { usleep(100_000) }
        process.terminate()
        process.waitUntilExit()
        try handle.close()
        #expect(process.terminationStatus == 0, "round \(round) (seed \(seed)): \(output())")
        #expect(try exportOf(state) == chain.referenceExport, "round \(round) (seed \(seed), reserved zeros \(reservedZeros)): \(output())")
    }

    /// Writes the next `count` bytes of `stream` into `directory`: appended, or, with reserved
    /// zeros, written over a file first made as long as it will be.
    func write(_ stream: inout Stream, count: Int, reservedZeros: Bool, into directory: URL) throws {
        guard !stream.isDone else { return }
        let (name, data) = stream.files[stream.file]
        let path = directory.appendingPathComponent(name).path
        if stream.offset == 0 {
            _ = FileManager.default.createFile(atPath: path, contents: reservedZeros ? Data(count: data.count) : Data())
        }
        let end = min(data.count, stream.offset + count)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try file.seek(toOffset: UInt64(stream.offset))
        try file.write(contentsOf: data[stream.offset..<end])
        try file.close()
        stream.offset = end
        if end == data.count { stream.file += 1; stream.offset = 0 }
    }
}

/// A small seeded generator: a failing round names its seed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
