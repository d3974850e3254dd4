import BitcoinWire

/// Writes OP_RETURN outputs for the op mix, and counts operations by the rule of the nulldata
/// document (docs/virtualchain.md, section 2).
/// The counting is a deliberately plain, separate implementation of that rule, so that the reader's
/// filter can be checked against the generator's manifest.
enum OpCounting {
    /// Opcodes of the names system first, then other printable characters.
    static let opcodes: [UInt8] = Array("?:+>~$#!".utf8)

    /// What an output script says of the transaction's data (docs/virtualchain.md, section 2): nil when it does
    /// not start with `OP_RETURN` (it changes nothing); `.some(nil)` when it does but is not
    /// `OP_RETURN` and exactly one data push (it clears the data); otherwise the pushed bytes,
    /// read leniently: a push or a push length cut short by the script's end takes what is there.
    static func nullDataPush(_ s: [UInt8]) -> ArraySlice<UInt8>?? {
        guard s.first == Opcode.opReturn else { return .none }
        guard s.count >= 2 else { return .some(nil) }
        let start: Int, length: Int
        switch s[1] {
        case 1...75: start = 2; length = Int(s[1])
        case Opcode.pushData1, Opcode.pushData2, Opcode.pushData4:
            let width = s[1] == Opcode.pushData1 ? 1 : s[1] == Opcode.pushData2 ? 2 : 4
            start = 2 + width
            length = s[2..<min(start, s.count)].reversed().reduce(0) { $0 << 8 | Int($1) }
        default: return .some(nil)
        }
        guard start + length >= s.count else { return .some(nil) }
        return .some(s[min(start, s.count)...])
    }

    /// Adds one to `counts[i]` if the transaction with these `outputs` carries an operation for
    /// `magics[i]`: the last output starting with `OP_RETURN` decides, malformed or not.
    static func count(outputs: [[UInt8]], magics: [[UInt8]], into counts: inout [Int]) {
        var last: ArraySlice<UInt8>?
        for script in outputs {
            if let verdict = nullDataPush(script) { last = verdict }
        }
        guard let data = last else { return }
        for (i, magic) in magics.enumerated() where data.count >= magic.count + 1 && data.starts(with: magic) {
            counts[i] += 1
        }
    }

    /// One OP_RETURN output script: an operation for one of the magics, or a decoy.
    static func makeNullData(_ mix: OpMix, _ rng: inout SeededRandom) -> [UInt8] {
        let magic = mix.magics[rng.weightedIndex(mix.magics.map(\.weight))].bytes
        let opcode = !mix.opcodes.isEmpty ? mix.opcodes[rng.int(0..<mix.opcodes.count)]
            : (rng.chance(0.8) ? opcodes[rng.int(0..<opcodes.count)] : UInt8(rng.int(0x21...0x7e)))
        let payload = rng.bytes(rng.int(mix.payload))
        if rng.chance(mix.malformed) {
            let data = magic + [opcode] + payload
            switch rng.int(0...4) {
            case 0: return Script.nullData(data) + Script.push(rng.bytes(rng.int(1...8)))  // two pushes
            case 1: return [Opcode.opReturn, Opcode.op1] + data                               // not a data push
            case 2:  // a push running past the end: the original reads the bytes there, so it still counts
                let full = [Opcode.opReturn, Opcode.pushData1, UInt8(min(255, data.count + 3))] + data
                return full
            case 3: return [Opcode.opReturn]                                                 // no push at all
            default: return [Opcode.opReturn, Opcode.op0]                                    // empty push
            }
        }
        if rng.chance(mix.foreign) {
            if rng.chance(0.2) { return Script.nullData(magic) }                              // magic, no opcode
            var prefix: [UInt8]
            repeat {
                prefix = rng.bytes(rng.int(2...4))
            } while mix.magics.contains { prefix.starts(with: $0.bytes) || $0.bytes.starts(with: prefix) }
            return Script.nullData(prefix + [opcode] + payload)
        }
        let data = magic + [opcode] + payload
        if rng.chance(0.05) && data.count <= 255 {
            // Valid but not minimal: PUSHDATA1 for a short push still is one data push.
            return [Opcode.opReturn, Opcode.pushData1, UInt8(data.count)] + data
        }
        return Script.nullData(data)
    }
}
