import Foundation
import Testing
import TestSupport

/// Resident memory stays bounded however large the blocks directory is: the reader's bound is
/// 512 MiB excluding mapped block files, and total RSS must not grow with the directory's size.
@Suite(.serialized) struct ResourceLimitTests {
    static let enabled = TestPaths.inCI || ProcessInfo.processInfo.environment["VC_LARGE_TESTS"] != nil

    func measure(size: String, in root: URL, binary: URL) throws -> (anonymous: Int, peak: Int, bytes: Int) {
        let out = root.appendingPathComponent(size)
        let generated = try runProcess(binary, ["testchain", "--out", out.path, "--size", size, "--seed", "large", "--xor", "--quiet"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let bench = try runProcess(binary, ["bench", "--blocksdir", out.appendingPathComponent("blocks").path, "--network", "regtest", "--json", "--repeat", "1"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as! [String: Any]
        try? FileManager.default.removeItem(at: out)
        return (object["anon_rss_bytes"] as! Int, object["peak_rss_bytes"] as! Int, object["bytes"] as! Int)
    }

    /// Uses the release build (scripts/test makes it): the bound is the shipped program's.
    @Test(.enabled(if: enabled, "generates 2 GiB: runs in CI, or here with VC_LARGE_TESTS=1"))
    func twoGiBDirectoryKeepsResidentMemoryBounded() throws {
        let binary = try #require(TestPaths.releaseExecutable, "needs .build/release/virtualchain (scripts/test builds it)")
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let small = try measure(size: "256MiB", in: root, binary: binary)
        let large = try measure(size: "2GiB", in: root, binary: binary)
        #expect(large.bytes > 2_000_000_000)
        #expect(large.anonymous < 512 << 20, "anonymous RSS \(large.anonymous >> 20) MiB")
        // Mapped pages are released file by file: the peak must not follow the directory's size.
        #expect(large.peak < small.peak + (256 << 20), "peak RSS \(small.peak >> 20) MiB at 256 MiB, \(large.peak >> 20) MiB at 2 GiB")
        print("resource limits: 2 GiB directory, anonymous RSS \(large.anonymous >> 20) MiB, peak RSS \(large.peak >> 20) MiB (\(small.peak >> 20) MiB at 256 MiB)")
    }
}
