/// Unsigned 256-bit integer: just enough arithmetic for targets and chain work.
/// Limbs are little-endian (`w0` least significant).
public struct UInt256: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public static let zero = UInt256(w0: 0, w1: 0, w2: 0, w3: 0)
    public static let max = UInt256(w0: .max, w1: .max, w2: .max, w3: .max)

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0; self.w1 = w1; self.w2 = w2; self.w3 = w3
    }

    public init(_ value: UInt64) { self.init(w0: value, w1: 0, w2: 0, w3: 0) }

    /// The number a hash represents when read as a little-endian integer (Core's `UintToArith256`).
    public init(_ hash: Hash256) {
        self.init(w0: UInt64(littleEndian: hash.a), w1: UInt64(littleEndian: hash.b),
                  w2: UInt64(littleEndian: hash.c), w3: UInt64(littleEndian: hash.d))
    }

    var limbs: [UInt64] { [w0, w1, w2, w3] }
    init(limbs l: [UInt64]) { self.init(w0: l[0], w1: l[1], w2: l[2], w3: l[3]) }

    public var isZero: Bool { (w0 | w1 | w2 | w3) == 0 }

    public static func < (a: UInt256, b: UInt256) -> Bool {
        if a.w3 != b.w3 { return a.w3 < b.w3 }
        if a.w2 != b.w2 { return a.w2 < b.w2 }
        if a.w1 != b.w1 { return a.w1 < b.w1 }
        return a.w0 < b.w0
    }

    /// Wrapping addition (chain work never approaches 2^256).
    public static func &+ (a: UInt256, b: UInt256) -> UInt256 {
        var out = [UInt64](repeating: 0, count: 4)
        var carry: UInt64 = 0
        let x = a.limbs, y = b.limbs
        for i in 0..<4 {
            let (s1, o1) = x[i].addingReportingOverflow(y[i])
            let (s2, o2) = s1.addingReportingOverflow(carry)
            out[i] = s2
            carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        return UInt256(limbs: out)
    }

    public static func &- (a: UInt256, b: UInt256) -> UInt256 {
        var out = [UInt64](repeating: 0, count: 4)
        var borrow: UInt64 = 0
        let x = a.limbs, y = b.limbs
        for i in 0..<4 {
            let (d1, o1) = x[i].subtractingReportingOverflow(y[i])
            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
            out[i] = d2
            borrow = (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        return UInt256(limbs: out)
    }

    public static prefix func ~ (a: UInt256) -> UInt256 {
        UInt256(w0: ~a.w0, w1: ~a.w1, w2: ~a.w2, w3: ~a.w3)
    }

    public static func << (a: UInt256, shift: Int) -> UInt256 {
        if shift >= 256 { return .zero }
        if shift <= 0 { return a }
        var out = [UInt64](repeating: 0, count: 4)
        let limbShift = shift / 64, bitShift = shift % 64
        let x = a.limbs
        for i in stride(from: 3, through: limbShift, by: -1) {
            out[i] = x[i - limbShift] << bitShift
            if bitShift > 0 && i - limbShift - 1 >= 0 {
                out[i] |= x[i - limbShift - 1] >> (64 - bitShift)
            }
        }
        return UInt256(limbs: out)
    }

    public static func >> (a: UInt256, shift: Int) -> UInt256 {
        if shift >= 256 { return .zero }
        if shift <= 0 { return a }
        var out = [UInt64](repeating: 0, count: 4)
        let limbShift = shift / 64, bitShift = shift % 64
        let x = a.limbs
        for i in 0..<(4 - limbShift) {
            out[i] = x[i + limbShift] >> bitShift
            if bitShift > 0 && i + limbShift + 1 < 4 {
                out[i] |= x[i + limbShift + 1] << (64 - bitShift)
            }
        }
        return UInt256(limbs: out)
    }

    public var bitWidthUsed: Int {
        if w3 != 0 { return 256 - w3.leadingZeroBitCount }
        if w2 != 0 { return 192 - w2.leadingZeroBitCount }
        if w1 != 0 { return 128 - w1.leadingZeroBitCount }
        return 64 - w0.leadingZeroBitCount
    }

    /// Long division (shift-subtract). Only used once per distinct nBits value, so simplicity wins.
    public static func / (a: UInt256, b: UInt256) -> UInt256 {
        precondition(!b.isZero, "division by zero")
        if a < b { return .zero }
        var quotient = UInt256.zero
        var remainder = a
        var shift = a.bitWidthUsed - b.bitWidthUsed
        var divisor = b << shift
        while shift >= 0 {
            if !(remainder < divisor) {
                remainder = remainder &- divisor
                quotient = quotient &+ (UInt256(1) << shift)
            }
            divisor = divisor >> 1
            shift -= 1
        }
        return quotient
    }

    public var hex: String {
        let words = [w3, w2, w1, w0]
        return words.map { word in
            let s = String(word, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
    }

    public var description: String { hex }

    /// Core's `arith_uint256::SetCompact`: decodes `nBits`. Returns nil where Core would report the
    /// target as negative or overflowing.
    public init?(compact: UInt32) {
        let size = Int(compact >> 24)
        var word = UInt64(compact & 0x007f_ffff)
        let value: UInt256
        if size <= 3 {
            word >>= UInt64(8 * (3 - size))
            value = UInt256(word)
        } else {
            value = UInt256(word) << (8 * (size - 3))
        }
        let negative = word != 0 && (compact & 0x0080_0000) != 0
        let overflow = word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32))
        if negative || overflow { return nil }
        self = value
    }

    /// Work represented by a target: 2^256 / (target + 1), computed as Core does
    /// (`~target / (target + 1) + 1`) to stay within 256 bits.
    public static func work(forTarget target: UInt256) -> UInt256 {
        if target == .max { return UInt256(1) }  // target + 1 would wrap to zero
        return (~target / (target &+ UInt256(1))) &+ UInt256(1)
    }
}

/// Proof-of-work checks on a header's own `nBits`.
public enum ProofOfWork {
    /// The target `nBits` encodes, or nil if it is zero, negative or overflowing (invalid PoW).
    public static func target(bits: UInt32) -> UInt256? {
        guard let target = UInt256(compact: bits), !target.isZero else { return nil }
        return target
    }

    /// Whether `hash` meets the target in `bits` (Core's `CheckProofOfWork` without the network's limit).
    public static func check(hash: BlockHash, bits: UInt32) -> Bool {
        guard let target = target(bits: bits) else { return false }
        return !(target < UInt256(hash.rawHash))
    }

    /// Work of a header with these `nBits` (zero for an invalid target).
    public static func work(bits: UInt32) -> UInt256 {
        guard let target = target(bits: bits) else { return .zero }
        return UInt256.work(forTarget: target)
    }
}
