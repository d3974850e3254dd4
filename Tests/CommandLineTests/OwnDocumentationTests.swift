import Foundation
import Testing
import TestSupport

/// The project carries its own specification (docs/): a clone has no `../shared`, so the README,
/// every command's help and the DocC catalogues point into docs/ and never outside the project.
@Suite struct OwnDocumentationTests {
    static let commands = ["import", "rebuild", "status", "export", "verify", "checkpoints", "prove", "verify-proof", "blocks", "ops", "bench", "testchain"]

    @Test func nothingPointsOutsideTheProject() throws {
        var texts: [(String, String)] = [("README.md", try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8))]
        for command in Self.commands {
            let help = try runCLI([command, "--help"])
            #expect(help.status == 0, "\(command) --help")
            texts.append(("\(command) --help", help.stdout))
        }
        let sources = TestPaths.packageRoot.appendingPathComponent("Sources")
        for case let url as URL in FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)! where url.path.contains(".docc/") && url.pathExtension == "md" {
            texts.append((url.lastPathComponent, try String(contentsOf: url, encoding: .utf8)))
        }
        for (name, text) in texts {
            #expect(!text.contains("shared/"), "\(name) points at shared/")
            #expect(!text.contains("spec section"), "\(name) cites a spec section outside the project")
        }
        // What they point at is there.
        for page in ["virtualchain.md", "proofs.md", "names.md", "bad-input.md"] {
            #expect(FileManager.default.fileExists(atPath: TestPaths.packageRoot.appendingPathComponent("docs/" + page).path), "docs/\(page)")
        }
    }
}
