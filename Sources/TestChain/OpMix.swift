import BitcoinWire

/// What fraction of transactions carry OP_RETURN outputs and what those look like.
///
/// Text form (`--op-mix`): comma-separated `key=value` pairs, any subset, e.g.
/// `rate=0.05,magics=id:3/omni:1,payload=0-60,malformed=0.1,foreign=0.2,multi=0.05`.
/// - `rate`: fraction of non-coinbase transactions with an OP_RETURN output.
/// - `magics`: `/`-separated `MAGIC:WEIGHT`; MAGIC is ASCII (`id`) or hex (`0x6964`).
/// - `payload`: payload size range in bytes after magic and opcode (`N` or `MIN-MAX`).
/// - `malformed`: fraction of those outputs whose script is not a single clean push (decoys).
/// - `foreign`: fraction whose data starts with some other prefix (decoys).
/// - `multi`: fraction of transactions with two OP_RETURN outputs (only the last one counts).
/// - `opcodes`: the opcode characters to use (default: the names opcodes and others at random).
public struct OpMix: Equatable, Sendable, CustomStringConvertible {
    public var rate: Double = 0.02
    public var magics: [(bytes: [UInt8], weight: Double)] = [(Array("id".utf8), 3), (Array("omni".utf8), 1)]
    public var payload: ClosedRange<Int> = 0...60
    public var malformed: Double = 0.1
    public var foreign: Double = 0.2
    public var multi: Double = 0.05
    /// Opcodes to draw from; empty means the default mix.
    public var opcodes: [UInt8] = []

    public init() {}

    public static func == (a: OpMix, b: OpMix) -> Bool { a.description == b.description }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        self.init()
        for part in text.split(separator: ",") where !part.isEmpty {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw ParseError(description: "op-mix: '\(part)' is not key=value") }
            let (key, value) = (pair[0], pair[1])
            func fraction() throws -> Double {
                guard let v = Double(value), v >= 0, v <= 1 else {
                    throw ParseError(description: "op-mix: \(key) must be a fraction between 0 and 1, got '\(value)'")
                }
                return v
            }
            switch key {
            case "rate": rate = try fraction()
            case "malformed": malformed = try fraction()
            case "foreign": foreign = try fraction()
            case "multi": multi = try fraction()
            case "opcodes":
                let bytes = Array(value.utf8)
                guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ",") }) else {
                    throw ParseError(description: "op-mix: opcodes must be printable characters, got '\(value)'")
                }
                opcodes = bytes
            case "payload":
                let bounds = value.split(separator: "-").map { Int($0) }
                guard (1...2).contains(bounds.count), let lo = bounds[0], let hi = bounds.last!, lo >= 0, lo <= hi, hi <= 9_000 else {
                    throw ParseError(description: "op-mix: payload must be N or MIN-MAX bytes (at most 9000), got '\(value)'")
                }
                payload = lo...hi
            case "magics":
                var parsed: [(bytes: [UInt8], weight: Double)] = []
                for entry in value.split(separator: "/") {
                    let fields = entry.split(separator: ":").map(String.init)
                    guard let magic = NullData.parseMagic(fields[0]) else {
                        throw ParseError(description: "op-mix: magic '\(fields[0])' must be 1-\(NullData.maxMagicLength) ASCII characters or 0x-prefixed hex")
                    }
                    let weight = fields.count > 1 ? Double(fields[1]) : 1
                    guard let weight, weight > 0, fields.count <= 2 else {
                        throw ParseError(description: "op-mix: weight of magic '\(fields[0])' must be a positive number")
                    }
                    parsed.append((magic, weight))
                }
                guard !parsed.isEmpty else { throw ParseError(description: "op-mix: magics needs at least one MAGIC[:WEIGHT]") }
                magics = parsed
            default:
                throw ParseError(description: "op-mix: unknown key '\(key)' (known: rate, magics, payload, malformed, foreign, multi, opcodes)")
            }
        }
    }

    static func magicText(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: ",") })
            && !(bytes.count >= 2 && bytes[0] == UInt8(ascii: "0") && (bytes[1] | 0x20) == UInt8(ascii: "x")) {
            return String(decoding: bytes, as: UTF8.self)
        }
        return "0x" + Hex.encode(bytes)
    }

    public var description: String {
        let m = magics.map { "\(OpMix.magicText($0.bytes)):\(Self.number($0.weight))" }.joined(separator: "/")
        let p = payload.lowerBound == payload.upperBound ? "\(payload.lowerBound)" : "\(payload.lowerBound)-\(payload.upperBound)"
        let o = opcodes.isEmpty ? "" : ",opcodes=" + String(decoding: opcodes, as: UTF8.self)
        return "rate=\(Self.number(rate)),magics=\(m),payload=\(p),malformed=\(Self.number(malformed)),foreign=\(Self.number(foreign)),multi=\(Self.number(multi))" + o
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
