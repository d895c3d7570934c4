import KMSConcurrency
import KMSModel
import Synchronization

/// One lock per key (or alias name), made on first use and dropped when no
/// task holds or waits for it. Every read-modify-write of a key's metadata
/// runs under its lock, so concurrent changes to one key are applied one
/// after another, each to the result of the last: none is lost.
final class KeyLocks: Sendable {
    private struct Entry {
        let semaphore = AsyncSemaphore(value: 1)
        var users = 0
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// Longest wait for a key's lock.
    let timeout: Duration

    init(timeout: Duration) {
        self.timeout = timeout
    }

    func withLock<T: Sendable>(_ name: String, _ body: () async throws -> T) async throws -> T {
        let semaphore = entries.withLock { e -> AsyncSemaphore in
            e[name, default: Entry()].users += 1
            return e[name]!.semaphore
        }
        defer {
            entries.withLock { e in
                e[name]!.users -= 1
                if e[name]!.users == 0 { e[name] = nil }
            }
        }
        do {
            try await semaphore.wait(timeout: timeout)
        } catch is AsyncSemaphore.TimedOut {
            throw KMSError(.dependencyTimeout, "Another change to \(name) is taking longer than \(timeout); retry.")
        }
        defer { semaphore.signal() }
        return try await body()
    }
}
