import Foundation
import Synchronization

/// One lock for everything in a test process that changes the environment
/// or starts a child, which copies it.
///
/// glibc's setenv and unsetenv are not safe against a concurrent read of
/// `environ`: a fresh clone's run of the suite crashed in `Process.run()`
/// (a memcpy of the environment, "Bad pointer dereference") while
/// PINTests unset a variable. Tests run in parallel, so every `setenv`,
/// `unsetenv` and `Process.run()` of the test process goes through here.
/// The section is short (a fork and exec, or one call), never a wait on
/// other work.
public enum ProcessEnvironment {
    private static let lock = Mutex(())

    public static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock { _ in try body() }
    }

    /// Starts `process` under the lock.
    public static func run(_ process: Process) throws {
        try withLock { try process.run() }
    }
}
