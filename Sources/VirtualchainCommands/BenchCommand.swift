import ArgumentParser
import BitcoinWire
import BlockFiles
import BlockReader
import ChainIndex
import Foundation
import Importer
import Measuring

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure reading throughput on a blocks directory against a same-run SHA-256 baseline.",
        discussion: """
        Phases: headers (header pass), parse (every block parsed, every txid computed), filter \
        (operation filter only, nothing hashed), each on 1 thread and, for parse and filter, on all \
        cores; import (a replay through --machine, reference by default, into a scratch state, verification \
        on, all cores, as `import` runs; with --no-verify, import_no_verify without it, compared \
        with filter_all_cores). Each is reported in MB/s of best-chain block bytes and as a \
        ratio to OpenSSL SHA-256 over the same number of bytes in 1 KiB chunks, measured in the same \
        run; import also as a ratio to parse_all_cores. Build in release mode.
        """
    )

    @OptionGroup var source: ChainSourceOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Magic the filter phase looks for.")
    var magic = "id"

    @Option(name: .customLong("repeat"), help: "Runs of each phase; the fastest counts (shared machines are noisy).")
    var repetitions: Int = 3

    @Flag(name: .customLong("import"), inversion: .prefixedNo, help: "Measure the import phase (default on; --no-import skips it).")
    var importPhase = true

    @Option(help: ArgumentHelp("The machine the import phase replays through (default: reference, or the program's only one).", valueName: "name"))
    var machine: String?

    /// The machine of the import phase.
    var registration: MachineRegistration {
        get throws {
            let machines = CommandLineSetup.machines
            let name = machine ?? (machines.contains { $0.name == "reference" } ? "reference" : machines.count == 1 ? machines[0].name : "")
            guard machine != nil || !name.isEmpty else {
                throw ValidationError("--machine is required: \(machines.map(\.name).joined(separator: ", "))")
            }
            return try CommandLineSetup.machine(named: name)
        }
    }

    func validate() throws { _ = try registration }

    /// One replay of the whole best chain through the chosen machine into a fresh scratch state,
    /// checkpoints as `import` writes them; seconds.
    private func replay(directory: BlocksDirectory, index: ChainIndex) throws -> Double {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vc-bench-import-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var options = ImporterOptions()
        options.passOptions = source.passOptions
        let started = now()
        try registration.importOnce(directory.network, scratch, directory, index, options)
        return now() - started
    }

    struct Phase {
        var name: String
        var seconds: Double
        var threads: Int
    }

    func run() throws {
        guard let magicBytes = NullData.parseMagic(magic) else {
            Self.printError("--magic '\(magic)' must be ASCII or 0x-prefixed hex")
            throw ExitCode(2)
        }
        let directory: BlocksDirectory
        guard self.repetitions >= 1 else {
            Self.printError("--repeat must be at least 1")
            throw ExitCode(2)
        }
        do { directory = try source.openDirectory() } catch {
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
        let cores = source.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let progress = ProgressLine()
        progress.update("bench: warming the page cache", force: true)
        warmPageCache(directory)

        let runs = max(1, self.repetitions)
        var index: ChainIndex! = nil
        var headerSeconds = Double.infinity
        for run in 1...runs {
            progress.update("bench: header pass (\(run)/\(runs))", force: true)
            let start = now()
            do { index = try ChainIndex(directory: directory, baseHeight: source.baseHeight) } catch {
                progress.finish()
                Self.printError(commandLineMessage(for: error))
                throw ExitCode(1)
            }
            headerSeconds = min(headerSeconds, now() - start)
        }
        var phases = [Phase(name: "headers", seconds: headerSeconds, threads: 1)]
        let bytes = index.bestChain.reduce(0) { $0 + index.entries[$1].location.size }
        let blocks = index.bestChain.count
        var transactions = 0

        func pass(_ name: String, threads: Int, filterOnly: Bool) throws -> Phase {
            var best = Phase(name: name, seconds: .infinity, threads: threads)
            for run in 1...runs {
                best.seconds = min(best.seconds, try once(name + " (\(run)/\(runs))", threads: threads, filterOnly: filterOnly))
            }
            return best
        }

        let filter = OperationFilter(magic: magicBytes)
        func once(_ name: String, threads: Int, filterOnly: Bool) throws -> Double {
            let pass = BlockPass(directory: directory, index: index, options: BlockPassOptions(verify: false, threads: threads))
            var done = 0, txs = 0, found = 0
            let started = now()
            try pass.run(entries: index.bestChain, transform: { block -> (Int, Int) in
                var operations = 0
                if filterOnly {
                    for tx in block.view.transactions {
                        if filter.operation(in: tx) != nil { operations += 1 }
                    }
                } else {
                    // Every txid, as the reader computes them.
                    var sink: UInt64 = 0
                    for txid in block.view.txids() { sink &+= txid.rawHash.a }
                    operations = Int(sink & 1)
                }
                return (block.view.transactions.count, operations)
            }, consume: { _, value in
                txs += value.0
                found += value.1
                done += 1
                progress.update("bench: \(name) \(done)/\(blocks) blocks")
            })
            transactions = txs
            return now() - started
        }
        do {
            phases.append(try pass("parse", threads: 1, filterOnly: false))
            phases.append(try pass("parse_all_cores", threads: cores, filterOnly: false))
            phases.append(try pass("filter", threads: 1, filterOnly: true))
            phases.append(try pass("filter_all_cores", threads: cores, filterOnly: true))
            if importPhase {
                // With --no-verify the import runs without verification, and compares with the
                // filter pass (which verifies nothing either).
                var best = Phase(name: source.noVerify ? "import_no_verify" : "import", seconds: .infinity, threads: cores)
                for run in 1...runs {
                    progress.update("bench: import (\(run)/\(runs))", force: true)
                    best.seconds = min(best.seconds, try replay(directory: directory, index: index))
                }
                phases.append(best)
            }
        } catch {
            progress.finish()
            Self.printError(commandLineMessage(for: error))
            throw ExitCode(1)
        }
        progress.update("bench: SHA-256 baseline", force: true)
        let shaSeconds = (0..<runs).map { _ in HashBaseline.measure(bytes: bytes) }.min()!
        progress.finish()
        let peakAnonymous = ResidentMemory.anonymous()
        let mb = Double(bytes) / 1e6
        let shaMBps = mb / shaSeconds

        if json {
            var shaped: [String: BenchJSON.Phase] = [:]
            let parseAllCores = phases.first { $0.name == "parse_all_cores" }.map { mb / $0.seconds }
            let filterAllCores = phases.first { $0.name == "filter_all_cores" }.map { mb / $0.seconds }
            for phase in phases {
                let mbps = mb / phase.seconds
                shaped[phase.name] = BenchJSON.Phase(seconds: phase.seconds, mbps: mbps, ratioToSHA256: mbps / shaMBps,
                                                     blocksPerSecond: Double(blocks) / phase.seconds,
                                                     transactionsPerSecond: Double(transactions) / phase.seconds, threads: phase.threads,
                                                     ratioToParseAllCores: phase.name == "import" ? parseAllCores.map { mbps / $0 } : nil,
                                                     ratioToFilterAllCores: phase.name == "import_no_verify" ? filterAllCores.map { mbps / $0 } : nil,
                                                     machine: phase.name.hasPrefix("import") ? try registration.name : nil)
            }
            emit(try JSONOutput.line(BenchJSON(bytes: bytes, blocks: blocks, txs: transactions, threads: cores, sha256Mbps: shaMBps,
                                               anonRSSBytes: peakAnonymous, peakRSSBytes: ResidentMemory.peakTotal(), phases: shaped)))
        } else {
            emit("\(blocks) blocks, \(transactions) transactions, \(String(format: "%.1f", mb)) MB on the best chain; SHA-256 baseline \(format(shaMBps)) MB/s")
            emit("phase               threads   seconds      MB/s   x SHA-256     blocks/s         tx/s")
            for phase in phases {
                let mbps = mb / phase.seconds
                let name = phase.name.padding(toLength: 18, withPad: " ", startingAt: 0)
                emit(name + String(format: " %8d %9.3f %9.1f %11.3f %12.0f %12.0f", phase.threads, phase.seconds, mbps,
                                    mbps / shaMBps, Double(blocks) / phase.seconds, Double(transactions) / phase.seconds))
            }
            if let importPhase = phases.first(where: { $0.name.hasPrefix("import") }) {
                let base = importPhase.name == "import" ? "parse_all_cores" : "filter_all_cores"
                if let reference = phases.first(where: { $0.name == base }) {
                    emit("\(importPhase.name) (machine \(try registration.name)): \(String(format: "%.2f", reference.seconds / importPhase.seconds)) x \(base)")
                }
            }
            emit("resident memory: \(peakAnonymous >> 20) MiB anonymous; peak \(ResidentMemory.peakTotal() >> 20) MiB including mapped block files")
        }
    }

    private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    private func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

    /// Reads one byte per page of every block file so the timed phases start with a hot cache.
    private func warmPageCache(_ directory: BlocksDirectory) {
        for number in directory.blockFiles {
            guard let file = try? MappedFile(path: directory.blockFilePath(number)) else { continue }
            var sink: UInt8 = 0
            var offset = 0
            while offset < file.bytes.count {
                sink &+= file.bytes[offset]
                offset += 4096
            }
            if sink == 1 { FileHandle.standardError.write(Data()) }
        }
    }
}
