// A second, deliberately plain implementation of which data a transaction carries (spec section
// 2), transcribed from the original virtualchain: `btc_script_deserialize` (keys.py),
// `btc_script_classify` (bits.py) and the output loop of `handle_block` (blocks.py). It builds
// the token list as the original does, with Python's slicing, and shares no code with the
// reader's filter: the tests and the FuzzNullData target compare the two.
//
// Standard library only: the fuzz package compiles this same file (a symbolic link).

/// One token of a script, as the original's tokenizer yields it.
public enum OriginalScriptToken: Equatable {
    /// A data push (direct or OP_PUSHDATA1/2/4): the bytes that are there.
    case data([UInt8])
    /// OP_0 (Python `None`).
    case none
    /// OP_1NEGATE, OP_RESERVED, OP_1 ... OP_16, as `code - 80`.
    case number(Int)
    /// Any other opcode.
    case opcode(UInt8)
}

public enum OriginalNullDataRule {
    /// Python's `script[a:b]` for 0 <= a, clamped to the script.
    static func slice(_ s: [UInt8], _ a: Int, _ b: Int) -> [UInt8] {
        let lower = min(a, s.count), upper = min(max(b, lower), s.count)
        return Array(s[lower..<upper])
    }

    /// `btc_script_deserialize`.
    public static func tokens(_ script: [UInt8]) -> [OriginalScriptToken] {
        var out: [OriginalScriptToken] = []
        var pos = 0
        while pos < script.count {
            let code = Int(script[pos])
            if code == 0 {
                out.append(.none)
                pos += 1
            } else if code <= 75 {
                out.append(.data(slice(script, pos + 1, pos + 1 + code)))
                pos += 1 + code
            } else if code <= 78 {
                let szsz = 1 << (code - 76)
                // encoding.decode(script[pos+szsz : pos : -1], 256): the length bytes that
                // exist, most significant (the last one) first.
                var sz = 0
                var i = min(pos + szsz, script.count - 1)
                while i > pos {
                    sz = sz * 256 + Int(script[i])
                    i -= 1
                }
                out.append(.data(slice(script, pos + 1 + szsz, pos + 1 + szsz + sz)))
                pos += 1 + szsz + sz
            } else if code <= 96 {
                out.append(.number(code - 80))
                pos += 1
            } else {
                out.append(.opcode(UInt8(code)))
                pos += 1
            }
        }
        return out
    }

    /// `btc_script_classify(script) == 'nulldata'`: not one of the four templates, and the first
    /// token is OP_RETURN.
    public static func isNullData(_ script: [UInt8]) -> Bool {
        let s = script
        if s.count == 25 && s.starts(with: [0x76, 0xa9, 0x14]) && s.suffix(2) == [0x88, 0xac] { return false }  // p2pkh
        if s.count == 23 && s.starts(with: [0xa9, 0x14]) && s.last == 0x87 { return false }                   // p2sh
        if s.count == 22 && s.starts(with: [0x00, 0x14]) { return false }                                     // p2wpkh
        if s.count == 34 && s.starts(with: [0x00, 0x20]) { return false }                                     // p2wsh
        return tokens(s).first == .opcode(0x6a)
    }

    /// The data the transaction with these output scripts carries: every nulldata output decides
    /// anew, a well-formed one (exactly OP_RETURN and one data push) sets it, any other clears it.
    public static func carriedData(outputs: [[UInt8]]) -> [UInt8]? {
        var payload: [UInt8]?
        for script in outputs where isNullData(script) {
            let tokens = tokens(script)
            if tokens.count == 2, case let .data(bytes) = tokens[1] {
                payload = bytes
            } else {
                payload = nil
            }
        }
        return payload
    }

    /// `parse_transaction`'s magic check: opcode and payload when the data starts with `magic`
    /// and has a byte after it.
    public static func operation(outputs: [[UInt8]], magic: [UInt8]) -> (opcode: UInt8, payload: [UInt8])? {
        guard let data = carriedData(outputs: outputs), data.starts(with: magic), data.count >= magic.count + 1 else { return nil }
        return (data[magic.count], Array(data[(magic.count + 1)...]))
    }
}
