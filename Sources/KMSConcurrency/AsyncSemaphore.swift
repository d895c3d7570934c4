import Synchronization

/// A counting semaphore for async code, and the one wait primitive of the
/// request path: HSM session permits, per-key change serialization and
/// anything else that must queue. Waiting suspends the task, never a thread
/// (on a 2-core host the cooperative pool has two threads; one blocked
/// waiter there can stop the work that would release it). Every wait has a
/// deadline and ends early, with `CancellationError`, when its task is
/// cancelled. Waiters are served first come, first served.
public final class AsyncSemaphore: Sendable {
    /// The wait outlasted its deadline; the permit was not taken.
    public struct TimedOut: Error, Hashable, Sendable {
        public let after: Duration
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
        let timeout: Duration
        let deadline: ContinuousClock.Instant
    }

    /// The one task that ends waits at their deadlines, and when it wakes.
    /// A timer task per waiter cost a task creation, a timer and a
    /// cancellation on every wait that queued, which on the request path
    /// (HSM session permits, 16 requests in flight on 4 sessions) was 5% of
    /// the daemon's CPU in perf. Waiters of one semaphore share one timeout,
    /// so deadlines arrive in order and one sleeper serves them all.
    private struct Watchdog {
        let generation: UInt64
        var wakesAt: ContinuousClock.Instant
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waits given an id and about to queue; one removed from here by a
        /// cancellation before it queued never queues.
        var arriving: Set<UInt64> = []
        var watchdog: Watchdog?
        var watchdogGenerations: UInt64 = 0
    }

    private let state: Mutex<State>

    public init(value: Int) {
        precondition(value >= 0, "a semaphore starts with zero or more permits")
        state = Mutex(State(available: value))
    }

    /// Permits free now, and tasks waiting for one (for metrics and health).
    public var statistics: (available: Int, waiting: Int) {
        state.withLock { ($0.available, $0.waiters.count) }
    }

    /// Takes a permit if one is free now, without waiting.
    public func tryWait() -> Bool {
        state.withLock { s in
            guard s.available > 0 else { return false }
            s.available -= 1
            return true
        }
    }

    /// Takes a permit, waiting at most `timeout` for one. Throws `TimedOut`
    /// after that, or `CancellationError` if the task is cancelled first.
    public func wait(timeout: Duration) async throws {
        let id: UInt64? = state.withLock { s in
            if s.available > 0 && s.waiters.isEmpty {
                s.available -= 1
                return nil
            }
            s.nextID += 1
            s.arriving.insert(s.nextID)
            return s.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let deadline = ContinuousClock.now + timeout
                var startWatchdog: UInt64?
                let queued = state.withLock { s -> Bool? in
                    guard s.arriving.remove(id) != nil else { return nil }
                    // A permit returned since the first look is taken now.
                    if s.available > 0 && s.waiters.isEmpty {
                        s.available -= 1
                        return false
                    }
                    s.waiters.append(Waiter(id: id, continuation: c, timeout: timeout, deadline: deadline))
                    // A new watchdog only if none would wake in time; the
                    // one it replaces finds it is no longer the watchdog.
                    if let dog = s.watchdog, dog.wakesAt <= deadline { return true }
                    s.watchdogGenerations += 1
                    s.watchdog = Watchdog(generation: s.watchdogGenerations, wakesAt: deadline)
                    startWatchdog = s.watchdogGenerations
                    return true
                }
                switch queued {
                case nil: return c.resume(throwing: CancellationError())
                case false?: return c.resume()
                case true?: break
                }
                if let generation = startWatchdog { watch(generation, firstWake: deadline) }
            }
        } onCancel: {
            abandon(id, with: CancellationError())
        }
    }

    /// Returns a permit: to the longest waiter, or to the pool.
    public func signal() {
        let next = state.withLock { s -> Waiter? in
            if s.waiters.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.continuation.resume()
    }

    /// Ends a wait that has not been served: resumes it with `error`, or, if
    /// it is not queued yet, marks it so it never will be.
    private func abandon(_ id: UInt64, with error: any Error) {
        let waiter = state.withLock { s -> Waiter? in
            if let i = s.waiters.firstIndex(where: { $0.id == id }) { return s.waiters.remove(at: i) }
            // Not queued: about to be (then it must not be), or already served.
            s.arriving.remove(id)
            return nil
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// Sleeps to the earliest deadline, ends every wait past its own, and
    /// sleeps again while any wait remains; ends when none does, when a newer
    /// watchdog has taken over, or when the semaphore is gone.
    private func watch(_ generation: UInt64, firstWake: ContinuousClock.Instant) {
        Task { [weak self] in
            var wake = firstWake
            while true {
                try? await Task.sleep(until: wake, clock: .continuous)
                guard let self else { return }
                let (expired, next) = self.state.withLock { s -> ([Waiter], ContinuousClock.Instant?) in
                    guard s.watchdog?.generation == generation else { return ([], nil) }
                    let now = ContinuousClock.now
                    let expired = s.waiters.filter { $0.deadline <= now }
                    if !expired.isEmpty { s.waiters.removeAll { $0.deadline <= now } }
                    s.watchdog?.wakesAt = s.waiters.lazy.map(\.deadline).min() ?? now
                    if s.waiters.isEmpty { s.watchdog = nil }
                    return (expired, s.watchdog?.wakesAt)
                }
                for waiter in expired { waiter.continuation.resume(throwing: TimedOut(after: waiter.timeout)) }
                guard let next else { return }
                wake = next
            }
        }
    }
}
