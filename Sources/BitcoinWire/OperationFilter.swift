/// Which transactions carry an operation (docs/virtualchain.md, section 2): the data the
/// transaction carries (``TransactionView/nullData``, decided by its last `OP_RETURN`-led output)
/// starts with `magic`, followed by an opcode in `opcodes` (any opcode when nil). One definition
/// for the engine, `ops`, `bench`, candidate extraction and the proof verifier.
public struct OperationFilter: Sendable {
    public let magic: [UInt8]
    /// The opcodes that count; nil accepts every opcode (`ops` lists them all).
    public let opcodes: Set<UInt8>?

    public init(magic: [UInt8], opcodes: Set<UInt8>? = nil) {
        self.magic = magic
        self.opcodes = opcodes
    }

    /// The operation `tx` carries, if any: opcode and payload (a view into the transaction).
    @inlinable
    public func operation(in tx: TransactionView) -> (opcode: UInt8, payload: UnsafeRawBufferPointer)? {
        guard let data = tx.nullData, let operation = NullData.operation(in: data, magic: magic) else { return nil }
        if let opcodes, !opcodes.contains(operation.opcode) { return nil }
        return operation
    }

    /// Whether any transaction of `block` carries an operation.
    public func matchesAny(in block: BlockView) -> Bool {
        block.transactions.contains { operation(in: $0) != nil }
    }
}
