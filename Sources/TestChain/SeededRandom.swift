import BitcoinWire

/// xoshiro256** seeded from SHA-256 of the seed text: the generator's only source of randomness,
/// so the same seed always gives the same bytes (Swift's own `Hasher` and `SystemRandomNumberGenerator`
/// are deliberately never used here).
public struct SeededRandom: RandomNumberGenerator {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: String) {
        let digest = Hashes.sha256(Array(seed.utf8))
        s0 = digest.a; s1 = digest.b; s2 = digest.c; s3 = digest.d
        if (s0 | s1 | s2 | s3) == 0 { s0 = 1 }
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform integer in `range` (Lemire's method via the standard library).
    public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    public mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Log-uniform integer in `range` (small values as common as large decades).
    public mutating func logUniform(_ range: ClosedRange<Int64>) -> Int64 {
        let lo = Double(max(range.lowerBound, 1)), hi = Double(range.upperBound)
        let x = exp2(log2(lo) + unit() * (log2(hi) - log2(lo)))
        return min(max(Int64(x), range.lowerBound), range.upperBound)
    }

    /// Appends `count` random bytes.
    public mutating func appendBytes(_ count: Int, to out: inout [UInt8]) {
        var remaining = count
        while remaining > 0 {
            let word = next()
            let n = min(8, remaining)
            withUnsafeBytes(of: word) { out.append(contentsOf: $0.prefix(n)) }
            remaining -= n
        }
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        appendBytes(count, to: &out)
        return out
    }

    /// Picks an index with probability proportional to `weights`.
    public mutating func weightedIndex(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var x = unit() * total
        for (i, w) in weights.enumerated() {
            if x < w { return i }
            x -= w
        }
        return weights.count - 1
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
