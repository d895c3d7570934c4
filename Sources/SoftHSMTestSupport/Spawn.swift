import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Starting children with posix_spawn, not Foundation's `Process`.
///
/// Why: on Linux, `Process.run()` (swift-corelibs-foundation as shipped with
/// Swift 6.3.1) scans /proc/self/fd with `readdir` and copies the whole
/// 256-byte `d_name` of each entry, reading past glibc's buffer when an entry
/// sits at its end and the next page is unmapped (swift-corelibs-foundation
/// PR #5472, merged 2026-05). The suite hit it twice in one day, as a
/// signal 11 in `Process.run` ("Bad pointer dereference") that killed the
/// whole test process. It also changes the process-wide working directory
/// around the spawn when a directory is asked for. This helper gives the
/// child its three descriptors, closes every other one in the child
/// (posix_spawn_file_actions_addclosefrom_np, glibc 2.34), sets its
/// directory in the child (addchdir_np), restores default signal handling,
/// and puts it in a process group of its own, as `Process` did.
public enum Spawn {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, CInt) -> CInt
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> CInt

    /// The GNU extensions Swift's Glibc module does not show, found at run time.
    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let pointer = dlsym(handle, name) else { return nil }
        return unsafeBitCast(pointer, to: type)
    }

    /// Starts `executable` with `arguments`, the environment `environment`
    /// (the current one when nil) and the given descriptors as 0, 1 and 2
    /// (stdin /dev/null when nil). Returns the child's pid.
    public static func start(_ executable: String, _ arguments: [String], environment: [String: String]?,
                             directory: String?, stdin: CInt?, stdout: CInt, stderr: CInt) throws -> pid_t {
        guard let closeFrom = symbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self),
              let addChdir = symbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self) else {
            throw Failure(description: "glibc 2.34 or later is needed (posix_spawn_file_actions_addclosefrom_np)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        guard closeFrom(&actions, 3) == 0 else { throw Failure(description: "posix_spawn_file_actions_addclosefrom_np failed") }
        if let directory {
            guard addChdir(&actions, directory) == 0 else { throw Failure(description: "cannot chdir the child to \(directory)") }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // The environment is read (and the child started) under the lock
        // that every setenv/unsetenv of the test process takes.
        return try ProcessEnvironment.withLock {
            let env = environment.map { $0.map { "\($0.key)=\($0.value)" } } ?? currentEnvironment()
            let envp = env.map { strdup($0) } + [nil]
            defer { for p in envp { free(p) } }
            var pid: pid_t = 0
            let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            guard rc == 0 else { throw Failure(description: "cannot start \(executable): \(String(cString: strerror(rc)))") }
            return pid
        }
    }

    private static func currentEnvironment() -> [String] {
        var out: [String] = []
        var p = environ
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }

    /// Waits for `pid` to end (EINTR retried); its exit status, or the
    /// number of the signal that ended it, as `Process.terminationStatus` gave.
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : status & 0x7F
    }

    /// A pipe whose two ends are close-on-exec (the child gets its end by dup2).
    public static func pipe() throws -> (read: CInt, write: CInt) {
        // pipe2 is hidden from Swift's Glibc too; the flag is set right after
        // (a child spawned meanwhile by another thread still closes every
        // descriptor above 2 at its start).
        var fds: [CInt] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

/// A child started by `Spawn` and reaped by a thread of its own, for the
/// callers that poll it (`isRunning`) rather than wait.
public final class SpawnedChild: Sendable {
    public let pid: pid_t
    private let exit = Mutex<Int32?>(nil)

    public init(pid: pid_t) {
        self.pid = pid
        Thread.detachNewThread { [self] in
            let status = Spawn.wait(pid)
            exit.withLock { $0 = status }
        }
    }

    public var isRunning: Bool { exit.withLock { $0 == nil } }
    /// Valid once `isRunning` is false.
    public var terminationStatus: Int32 { exit.withLock { $0 ?? -1 } }
}
