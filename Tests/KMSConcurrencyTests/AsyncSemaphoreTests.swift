import KMSConcurrency
import Synchronization
import Testing

@Suite("AsyncSemaphore")
struct AsyncSemaphoreTests {
    // Deadlines here are long: the suite runs in parallel on a 2-thread pool
    // that other tests keep busy; only the timeout test depends on one.
    @Test("a flood of waiters never holds more permits than there are, and all get through")
    func floodStaysWithinPermits() async throws {
        let semaphore = AsyncSemaphore(value: 3)
        let holding = Counter()
        let most = Counter()
        let done = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2000 {
                group.addTask {
                    try await semaphore.wait(timeout: .seconds(600))
                    let now = holding.add()
                    most.max(now)
                    await Task.yield()
                    holding.subtract()
                    semaphore.signal()
                    done.add()
                }
            }
            try await group.waitForAll()
        }
        #expect(done.value == 2000)
        #expect(most.value <= 3)
        #expect(semaphore.statistics.available == 3 && semaphore.statistics.waiting == 0)
    }

    @Test("a wait ends at its deadline without taking a permit")
    func timesOut() async throws {
        let semaphore = AsyncSemaphore(value: 0)
        await #expect(throws: AsyncSemaphore.TimedOut.self) { try await semaphore.wait(timeout: .milliseconds(50)) }
        #expect(semaphore.statistics.waiting == 0)
        semaphore.signal()
        #expect(semaphore.tryWait(), "the permit signalled later is still there")
    }

    @Test("a wait queued behind a longer one still ends at its own deadline")
    func eachWaitEndsAtItsOwnDeadline() async throws {
        // One watchdog serves every waiter: a long wait queued first must not
        // hold back a short one queued after it, and the long one must still
        // be served afterwards. (The long wait is long so that a loaded
        // machine cannot time it out while the test waits for it to queue.)
        let semaphore = AsyncSemaphore(value: 0)
        let clock = ContinuousClock()
        let long = Task { try await semaphore.wait(timeout: .seconds(600)) }
        while semaphore.statistics.waiting < 1 { try await Task.sleep(for: .milliseconds(1)) }
        let start = clock.now
        await #expect(throws: AsyncSemaphore.TimedOut.self) { try await semaphore.wait(timeout: .milliseconds(100)) }
        #expect(clock.now - start < .seconds(60), "the short wait ended at its deadline, not the long one's")
        #expect(semaphore.statistics == (available: 0, waiting: 1))
        semaphore.signal()
        try await long.value
        semaphore.signal()
        #expect(semaphore.tryWait(), "no timeout took or lost a permit")
    }

    @Test("a cancelled waiter leaves at once, and the next permit goes to the next waiter")
    func cancellationEndsTheWait() async throws {
        let semaphore = AsyncSemaphore(value: 0)
        let cancelled = Task { try await semaphore.wait(timeout: .seconds(600)) }
        while semaphore.statistics.waiting == 0 { await Task.yield() }
        let second = Task { try await semaphore.wait(timeout: .seconds(600)) }
        while semaphore.statistics.waiting < 2 { await Task.yield() }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        semaphore.signal()
        try await second.value
        #expect(semaphore.statistics == (available: 0, waiting: 0))
    }

    @Test("waiters cancelled, timed out and served at random leave the count exact")
    func mixedFloodKeepsTheCount() async throws {
        let semaphore = AsyncSemaphore(value: 2)
        let served = Counter()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<1000 {
                group.addTask {
                    let wait = Task {
                        try await semaphore.wait(timeout: .milliseconds(i % 3 == 0 ? 1 : 5000))
                        served.add()
                        await Task.yield()
                        semaphore.signal()
                    }
                    if i % 5 == 0 { wait.cancel() }
                    _ = try? await wait.value
                }
            }
        }
        #expect(served.value > 0)
        #expect(semaphore.statistics.available == 2 && semaphore.statistics.waiting == 0)
    }
}

/// An atomic counter tests share between tasks (an `Atomic` itself cannot be captured).
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    init() {}
    @discardableResult func add(_ n: Int = 1) -> Int { atomic.add(n, ordering: .relaxed).newValue }
    func subtract(_ n: Int = 1) { atomic.subtract(n, ordering: .relaxed) }
    func max(_ n: Int) { _ = atomic.max(n, ordering: .relaxed) }
    var value: Int { atomic.load(ordering: .relaxed) }
}
