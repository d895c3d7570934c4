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
        var timer: Task<Void, Never>?
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waits given an id and about to queue; one removed from here by a
        /// cancellation before it queued never queues.
        var arriving: Set<UInt64> = []
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
                let queued = state.withLock { s -> Bool? in
                    guard s.arriving.remove(id) != nil else { return nil }
                    // A permit returned since the first look is taken now.
                    if s.available > 0 && s.waiters.isEmpty {
                        s.available -= 1
                        return false
                    }
                    s.waiters.append(Waiter(id: id, continuation: c))
                    return true
                }
                switch queued {
                case nil: return c.resume(throwing: CancellationError())
                case false?: return c.resume()
                case true?: break
                }
                // The timer is started once the waiter is queued, so it always finds it or its absence.
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    if !Task.isCancelled { self?.abandon(id, with: TimedOut(after: timeout)) }
                }
                let stillWaiting = state.withLock { s -> Bool in
                    guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return false }
                    s.waiters[i].timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
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
        next?.timer?.cancel()
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
        waiter?.timer?.cancel()
        waiter?.continuation.resume(throwing: error)
    }
}
