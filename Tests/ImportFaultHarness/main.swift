import BlockFiles
import Foundation
import Importer
import Names

// `import-fault-harness BLOCKS STATE CHECKPOINT_EVERY UNTIL PAUSE_MS`: imports a regtest chain
// with the names machine as `virtualchain import --checkpoint-share 0` does, its checkpoint
// writes pausing half-way for PAUSE_MS: a window in which the kill tests stop it. A test
// program, not part of the product: faults reach the importer only through `package` access.
let arguments = CommandLine.arguments.dropFirst().map { $0 }
guard arguments.count == 5, let every = Int(arguments[2]), let until = Int(arguments[3]), let pause = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: import-fault-harness BLOCKS STATE CHECKPOINT_EVERY UNTIL PAUSE_MS\n".utf8))
    exit(2)
}
var options = ImporterOptions()
options.checkpointEvery = every
options.checkpointShare = nil
options.until = until
options.checkpointFaults = WriteFaults(pauseMidwayMilliseconds: pause)
do {
    let importer = try Importer(machine: NamesMachine(firstBlock: NamesMachine.firstBlock(network: "regtest")),
                                stateDirectory: arguments[1], network: .regtest, options: options)
    let blocks = arguments[0]
    try importer.follow(ChainSource { try BlocksDirectory(path: blocks, network: .regtest) }, follow: false, pollInterval: 1,
                        stop: StopSignal(), reported: { _, _ in })
} catch {
    FileHandle.standardError.write(Data("import-fault-harness: \(error)\n".utf8))
    exit(1)
}
