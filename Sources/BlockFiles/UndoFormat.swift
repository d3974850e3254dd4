import BitcoinWire

/// Bitcoin Core's undo-data encoding (`undo.h`, `compressor.h`): what a `rev*.dat` record holds.
public enum UndoFormat {
    /// Number of special script encodings before raw scripts (`nSpecialScripts`).
    public static let specialScriptCount: UInt64 = 6

    /// `CompressAmount`: strips trailing decimal zeros so round amounts take one or two bytes.
    public static func compressAmount(_ amount: UInt64) -> UInt64 {
        if amount == 0 { return 0 }
        var n = amount
        var e: UInt64 = 0
        while n % 10 == 0 && e < 9 {
            n /= 10
            e += 1
        }
        if e < 9 {
            let d = n % 10
            n /= 10
            return 1 + (n * 9 + d - 1) * 10 + e
        }
        return 1 + (n - 1) * 10 + 9
    }

    /// `DecompressAmount`, the inverse of `compressAmount`.
    public static func decompressAmount(_ value: UInt64) -> UInt64 {
        if value == 0 { return 0 }
        var x = value - 1
        var e = x % 10
        x /= 10
        var n: UInt64
        if e < 9 {
            let d = (x % 9) + 1
            x /= 9
            n = x * 10 + d
        } else {
            n = x + 1
        }
        while e > 0 {
            n = n &* 10
            e -= 1
        }
        return n
    }

    /// Appends `ScriptCompression` of `script`: P2PKH, P2SH and P2PK (compressed key, or a valid
    /// uncompressed key via `isValidUncompressedKey`) take 21 or 33 bytes, anything else is stored
    /// as VARINT(size + 6) followed by the script.
    public static func writeCompressedScript(_ script: [UInt8], to writer: inout ByteWriter,
                                             isValidUncompressedKey: ([UInt8]) -> Bool = { _ in false }) {
        let s = script
        if s.count == 25, s[0] == Opcode.opDup, s[1] == Opcode.opHash160, s[2] == 20,
           s[23] == Opcode.opEqualVerify, s[24] == Opcode.opCheckSig {
            writer.write(0x00); writer.write(s[3..<23]); return
        }
        if s.count == 23, s[0] == Opcode.opHash160, s[1] == 20, s[22] == Opcode.opEqual {
            writer.write(0x01); writer.write(s[2..<22]); return
        }
        if s.count == 35, s[0] == 33, s[34] == Opcode.opCheckSig, s[1] == 0x02 || s[1] == 0x03 {
            writer.write(s[1]); writer.write(s[2..<34]); return
        }
        if s.count == 67, s[0] == 65, s[66] == Opcode.opCheckSig, s[1] == 0x04,
           isValidUncompressedKey(Array(s[1..<66])) {
            writer.write(0x04 | (s[65] & 0x01)); writer.write(s[2..<34]); return
        }
        writer.writeVarInt(UInt64(s.count) + specialScriptCount)
        writer.write(s)
    }

    /// A spent output as `TxInUndoFormatter` writes it.
    public static func writeCoin(_ output: TxOut, height: Int, isCoinbase: Bool, to writer: inout ByteWriter) {
        writer.writeVarInt(UInt64(height) * 2 + (isCoinbase ? 1 : 0))
        // Older undo formats stored the creating transaction's version here; Core still writes a
        // zero byte for compatibility whenever the height is non-zero.
        if height > 0 { writer.write(0x00) }
        writer.writeVarInt(compressAmount(UInt64(output.value)))
        writeCompressedScript(output.scriptPubKey, to: &writer)
    }
}

/// One spent coin in an undo record.
public struct SpentCoin: Equatable, Sendable {
    public var output: TxOut
    public var height: Int
    public var isCoinbase: Bool

    public init(output: TxOut, height: Int, isCoinbase: Bool) {
        self.output = output
        self.height = height
        self.isCoinbase = isCoinbase
    }
}
