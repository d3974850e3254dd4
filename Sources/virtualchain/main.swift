import Names
import Reference
import VirtualchainCommands

// `virtualchain`: the shared command line with the two machines this project ships, plus the
// test-chain generator.
VirtualchainCommandLine.main(
    name: "virtualchain",
    machines: [
        MachineRegistration("names") { network in NamesMachine(firstBlock: NamesMachine.firstBlock(network: network.rawValue)) },
        MachineRegistration("reference") { _ in NotaryMachine() },
    ],
    additionalCommands: [TestchainCommand.self]
)
