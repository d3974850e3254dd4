/// Results of type `T` waiting for the consumer, one slot per position modulo the pass's window:
/// a worker initializes the slots of the positions it claimed, the consumer takes them in order
/// after the pass's state says they are ready (its lock orders the two).
@usableFromInline
final class ResultSlots<T>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<T>

    @inlinable init(count: Int) { base = .allocate(capacity: count) }
    @inlinable func initialize(_ slot: Int, to value: T) { (base + slot).initialize(to: value) }
    @inlinable func take(_ slot: Int) -> T { (base + slot).move() }
    @inlinable func discard(_ slot: Int) { (base + slot).deinitialize(count: 1) }
    /// Frees the slots; every initialized one must have been taken or discarded.
    @inlinable func deallocate() { base.deallocate() }
}
