/// Script opcodes and builders for the script templates this project writes and recognizes.
public enum Opcode {
    public static let op0: UInt8 = 0x00
    public static let pushData1: UInt8 = 0x4c
    public static let pushData2: UInt8 = 0x4d
    public static let pushData4: UInt8 = 0x4e
    public static let op1: UInt8 = 0x51
    public static let opReturn: UInt8 = 0x6a
    public static let opDrop: UInt8 = 0x75
    public static let op2Drop: UInt8 = 0x6d
    public static let opDup: UInt8 = 0x76
    public static let opEqual: UInt8 = 0x87
    public static let opEqualVerify: UInt8 = 0x88
    public static let opHash160: UInt8 = 0xa9
    public static let opCheckSig: UInt8 = 0xac
}

public enum Script {
    /// Appends the shortest push of `data` (direct push up to 75 bytes, then PUSHDATA1/2/4).
    public static func appendPush(_ data: [UInt8], to script: inout [UInt8]) {
        switch data.count {
        case 0..<Int(Opcode.pushData1): script.append(UInt8(data.count))
        case 0..<0x100: script.append(Opcode.pushData1); script.append(UInt8(data.count))
        case 0..<0x1_0000:
            script.append(Opcode.pushData2)
            script.append(UInt8(data.count & 0xff)); script.append(UInt8(data.count >> 8))
        default:
            script.append(Opcode.pushData4)
            withUnsafeBytes(of: UInt32(data.count).littleEndian) { script.append(contentsOf: $0) }
        }
        script.append(contentsOf: data)
    }

    public static func push(_ data: [UInt8]) -> [UInt8] {
        var script = [UInt8]()
        appendPush(data, to: &script)
        return script
    }

    /// `CScript() << n` for a block height (BIP34): OP_0, OP_1..OP_16, or a minimal CScriptNum push.
    public static func pushNumber(_ n: Int64) -> [UInt8] {
        if n == 0 { return [Opcode.op0] }
        if n == -1 || (1...16).contains(n) { return [UInt8(Int(Opcode.op1) - 1 + Int(n))] }
        return push(scriptNum(n))
    }

    /// CScriptNum serialization: little-endian magnitude with a sign bit.
    public static func scriptNum(_ value: Int64) -> [UInt8] {
        if value == 0 { return [] }
        var result = [UInt8]()
        let negative = value < 0
        var magnitude = value.magnitude
        while magnitude > 0 {
            result.append(UInt8(magnitude & 0xff))
            magnitude >>= 8
        }
        if result[result.count - 1] & 0x80 != 0 {
            result.append(negative ? 0x80 : 0x00)
        } else if negative {
            result[result.count - 1] |= 0x80
        }
        return result
    }

    public static func p2pkh(_ keyHash: [UInt8]) -> [UInt8] {
        [Opcode.opDup, Opcode.opHash160, 20] + keyHash + [Opcode.opEqualVerify, Opcode.opCheckSig]
    }

    public static func p2sh(_ scriptHash: [UInt8]) -> [UInt8] {
        [Opcode.opHash160, 20] + scriptHash + [Opcode.opEqual]
    }

    public static func p2wpkh(_ keyHash: [UInt8]) -> [UInt8] { [Opcode.op0, 20] + keyHash }
    public static func p2wsh(_ scriptHash: [UInt8]) -> [UInt8] { [Opcode.op0, 32] + scriptHash }
    public static func p2tr(_ outputKey: [UInt8]) -> [UInt8] { [Opcode.op1, 32] + outputKey }
    public static func p2pk(_ publicKey: [UInt8]) -> [UInt8] { push(publicKey) + [Opcode.opCheckSig] }

    /// `OP_RETURN <data>`: a nulldata output script.
    public static func nullData(_ data: [UInt8]) -> [UInt8] { [Opcode.opReturn] + push(data) }
}
