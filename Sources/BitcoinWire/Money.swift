/// Amounts in satoshis, bounded as Core's `MoneyRange` bounds them (`consensus/amount.h`).
///
/// Every value read from a block or an undo record, and every sum of such values, is checked
/// against this range before it is used: a sum of two in-range values cannot overflow `Int64`, so
/// checked addition of in-range values never traps.
public enum Money {
    /// `MAX_MONEY`: 21,000,000 BTC. Not the supply, a sanity bound Core applies to every value and
    /// every sum (`bad-txns-vout-toolarge`, `bad-txns-txouttotal-toolarge`, `bad-txns-inputvalues-outofrange`).
    public static let maxMoney: Int64 = 21_000_000 * 100_000_000

    /// `MoneyRange(value)`: 0 ... 21,000,000 BTC.
    @inlinable public static func inRange(_ value: Int64) -> Bool { value >= 0 && value <= maxMoney }

    /// `a + b` when both and the sum are in range; nil otherwise.
    @inlinable public static func add(_ a: Int64, _ b: Int64) -> Int64? {
        guard inRange(a), inRange(b) else { return nil }
        let sum = a + b  // at most 2 * maxMoney: cannot overflow
        return inRange(sum) ? sum : nil
    }

    /// The sum of `values` when every value and every partial sum is in range; nil otherwise.
    @inlinable public static func sum<S: Sequence>(_ values: S) -> Int64? where S.Element == Int64 {
        var total: Int64 = 0
        for value in values {
            guard let next = add(total, value) else { return nil }
            total = next
        }
        return total
    }
}
