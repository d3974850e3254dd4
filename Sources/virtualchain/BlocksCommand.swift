import ArgumentParser

struct BlocksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "blocks", abstract: "List the best chain of a blocks directory.")
    func run() throws { throw UsageError("not implemented yet") }
}
