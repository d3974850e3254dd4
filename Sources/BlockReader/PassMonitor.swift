import Foundation

/// A mutex with two condition variables, one per side of the pass (Foundation's `NSCondition`
/// has one condition per lock, so waking one side meant waking both).
final class PassMonitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let room = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let ready = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(room, nil)
        pthread_cond_init(ready, nil)
    }

    deinit {
        pthread_cond_destroy(ready)
        pthread_cond_destroy(room)
        pthread_mutex_destroy(mutex)
        ready.deallocate()
        room.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// With the lock held: waits until woken (or spuriously); callers loop on their condition.
    func waitForRoom() { pthread_cond_wait(room, mutex) }
    func waitForResult() { pthread_cond_wait(ready, mutex) }
    func wakeWorkers() { pthread_cond_broadcast(room) }
    /// One consumer at most waits.
    func wakeConsumer() { pthread_cond_signal(ready) }
}
