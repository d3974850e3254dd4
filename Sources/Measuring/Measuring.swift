import BitcoinWire

import Foundation

/// The hardware baseline every throughput figure is reported against: OpenSSL SHA-256 over the
/// same number of bytes, in 1 KiB chunks (what hashing transactions of ~1 KiB costs).
public enum HashBaseline {
    public static let chunkSize = 1024

    /// Seconds to SHA-256 `bytes` bytes in 1 KiB chunks on one thread.
    public static func measure(bytes: Int) -> Double {
        let source = [UInt8]((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var sink: UInt64 = 0
        let start = DispatchTime.now().uptimeNanoseconds
        source.withUnsafeBytes { raw in
            var done = 0
            var offset = 0
            while done < bytes {
                let n = min(chunkSize, bytes - done)
                if offset + n > raw.count { offset = 0 }
                let hash = Hashes.sha256(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n)]))
                sink &+= hash.a
                offset += n
                done += n
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if sink == 42 { print("") }  // keeps the loop from being optimised away
        return seconds
    }
}

/// Resident memory of this process, from /proc/self/status (Linux).
public enum ResidentMemory {
    /// Anonymous resident memory in bytes: the heap and stacks, excluding mapped block files.
    public static func anonymous() -> Int { field("RssAnon") }
    /// All resident memory (including mapped file pages).
    public static func total() -> Int { field("VmRSS") }
    /// Peak of all resident memory since the process started (`VmHWM`).
    public static func peakTotal() -> Int { field("VmHWM") }

    private static func field(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let number = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) } ?? 0
            return number * 1024
        }
        return 0
    }
}
