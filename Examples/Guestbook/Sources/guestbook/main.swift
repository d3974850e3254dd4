import VirtualchainCommands

// The whole program: the Guestbook machine (Guestbook.swift, the README's example) handed to the
// shared command line. `guestbook import | rebuild | status | export | verify | checkpoints |
// prove | verify-proof | blocks | ops | bench`, with checkpoints, restarts, reorganisations and
// follow mode.
VirtualchainCommandLine.main(
    name: "guestbook",
    abstract: "A guestbook on Bitcoin: OP_RETURN \"hi\" \"!\" <message>, at most 3 entries per sender.",
    machines: [MachineRegistration("guestbook") { _ in Guestbook() }]
)
