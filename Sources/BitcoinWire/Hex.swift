/// Lowercase hex encoding and decoding.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes` (of their reversal if `reversed`), written straight into the
    /// string's storage.
    public static func encode(_ bytes: UnsafeRawBufferPointer, reversed: Bool = false) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            write(bytes, reversed: reversed, into: out)
            return bytes.count * 2
        }
    }

    /// The hex digits of `bytes` (in reverse order if `reversed`) into the first
    /// `2 * bytes.count` bytes of `out`.
    private static func write(_ bytes: UnsafeRawBufferPointer, reversed: Bool, into out: UnsafeMutableBufferPointer<UInt8>) {
        let count = bytes.count
        for i in 0..<count {
            let byte = bytes[reversed ? count - 1 - i : i]
            out[2 * i] = digits[Int(byte >> 4)]
            out[2 * i + 1] = digits[Int(byte & 0x0f)]
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { encode($0) } }

    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension Array where Element == UInt8 {
    /// Decodes hex (either case); nil if malformed.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self = bytes
    }

    public var hex: String { Hex.encode(self) }
}
