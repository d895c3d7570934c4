import Foundation
import Synchronization

/// One lock for everything in a test process that changes the environment
/// or starts a child, which copies it.
///
/// glibc's setenv and unsetenv are not safe against a concurrent read of
/// `environ`, and tests run in parallel: every `setenv` and `unsetenv` of
/// the test process, and every child start (`Spawn`, which copies the
/// environment), goes through here. The section is short (a posix_spawn or
/// one call), never a wait on other work.
public enum ProcessEnvironment {
    private static let lock = Mutex(())

    public static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock { _ in try body() }
    }

    /// The environment, read under the lock.
    public static func current() -> [String: String] {
        withLock { ProcessInfo.processInfo.environment }
    }
}
