import KMSConcurrency
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of sessions on one token, in the manner of crypto11: one
/// anchor session stays open and logged in for the pool's lifetime (login
/// state belongs to the application, so every other session is logged in
/// too), and every operation borrows a session.
///
/// PKCS#11 calls block, so borrowed sessions run their work on the pool's
/// own thread pool — never on the caller's thread or a SwiftNIO event loop.
/// A session found dead (`CKR_SESSION_HANDLE_INVALID`, `CKR_SESSION_CLOSED`,
/// `CKR_DEVICE_REMOVED`, `CKR_TOKEN_NOT_PRESENT`) is dropped; the pool
/// re-opens (and re-logs-in, with backoff) and runs the work once more on the
/// new session. `generation` counts such losses so callers can invalidate
/// handles of session objects, which die with the session that made them.
public final class SessionPool: Sendable {
    public struct Configuration: Sendable {
        /// Most sessions lent at once; also the number of worker threads.
        public var maxSessions: Int
        /// How often to retry opening a session or logging in after a loss.
        public var reopenAttempts: Int
        /// First backoff delay; doubles on each further attempt.
        public var reopenBackoffMilliseconds: Int
        /// Longest wait for a free session; past it the borrow throws
        /// `SessionPoolError.timedOut` (callers answer DependencyTimeoutException).
        public var checkoutTimeout: Duration
        public init(maxSessions: Int = 8, reopenAttempts: Int = 5, reopenBackoffMilliseconds: Int = 20,
                    checkoutTimeout: Duration = .seconds(30)) {
            self.maxSessions = maxSessions
            self.reopenAttempts = reopenAttempts
            self.reopenBackoffMilliseconds = reopenBackoffMilliseconds
            self.checkoutTimeout = checkoutTimeout
        }
    }

    public struct Statistics: Sendable, Hashable {
        /// Sessions open for borrowing (the anchor not counted).
        public var openSessions: Int
        public var idleSessions: Int
        public var borrowedSessions: Int
        public var waiting: Int
        public var maxSessions: Int
        /// Increases each time a session is found lost and replaced.
        public var generation: UInt64
    }

    private struct State {
        var idle: [Session] = []
        var borrowed = 0
        var anchor: Session?
        var generation: UInt64 = 0
        var isShutDown = false
    }

    public let token: Token
    public let maxSessions: Int
    private let pin: PIN?
    private let configuration: Configuration
    private let threads: NIOThreadPool
    private let state = Mutex(State())
    /// One permit per session that may be lent at once.
    private let permits: AsyncSemaphore

    /// Opens the anchor session and logs in as the user (when `pin` is given).
    /// `maxSessions` is capped by what the token allows, less the anchor.
    public init(token: Token, pin: PIN?, configuration: Configuration = .init()) throws {
        var limit = max(1, configuration.maxSessions)
        if let tokenMax = try token.info().maxRwSessionCount {
            limit = max(1, min(limit, tokenMax - 1))
        }
        self.token = token
        self.pin = pin
        self.configuration = configuration
        self.maxSessions = limit
        let anchor = try token.openSession()
        do {
            if let pin { try anchor.login(.user, pin: pin) }
        } catch {
            try? anchor.close()
            throw error
        }
        state.withLock { $0.anchor = anchor }
        permits = AsyncSemaphore(value: limit)
        threads = NIOThreadPool(numberOfThreads: limit)
        threads.start()
    }

    public var statistics: Statistics {
        let waiting = permits.statistics.waiting
        return state.withLock { s in
            Statistics(openSessions: s.idle.count + s.borrowed, idleSessions: s.idle.count,
                       borrowedSessions: s.borrowed, waiting: waiting, maxSessions: maxSessions,
                       generation: s.generation)
        }
    }

    /// Whether the anchor session answers and is logged in. A lost login is
    /// restored first (once, without waiting), so a quiet daemon does not stay
    /// "unhealthy" after a brief loss that nothing has touched since.
    public func isHealthy() async -> Bool {
        guard state.withLock({ $0.anchor }) != nil else { return false }
        return (try? await threads.runIfActive { [self] in
            try restoreLogin(attempts: 1)
            guard let anchor = state.withLock({ $0.anchor }) else { return false }
            return try anchor.state().isLoggedIn || pin == nil
        }) ?? false
    }

    /// Borrows a session, runs `body` with it on the pool's threads, and
    /// returns the session. Waits (suspending, not blocking) while all
    /// sessions are lent out, at most `checkoutTimeout`, and not at all once
    /// the task is cancelled.
    public func withSession<T: Sendable>(_ body: @escaping @Sendable (Session) throws -> T) async throws -> T {
        do {
            try await permits.wait(timeout: configuration.checkoutTimeout)
        } catch is AsyncSemaphore.TimedOut {
            throw SessionPoolError.timedOut(configuration.checkoutTimeout)
        }
        defer { permits.signal() }
        return try await threads.runIfActive { [self] in
            try runBorrowed(body)
        }
    }

    /// One at a time: the calls that create or destroy token objects.
    private let tokenWrites = AsyncSemaphore(value: 1)

    /// `withSession` for a body that creates or destroys token objects, one
    /// such body at a time per pool. SoftHSM 2.6.1's file object store fails
    /// concurrent token-object creation with CKR_GENERAL_ERROR (SoftHSMv2
    /// issue #573, fixed only in part): measured here, 16 CreateKey
    /// connections failed within the first 5 keys. Real HSMs do not need
    /// this, and it costs them only concurrency of key creation.
    public func withTokenWrite<T: Sendable>(_ body: @escaping @Sendable (Session) throws -> T) async throws -> T {
        do {
            try await tokenWrites.wait(timeout: configuration.checkoutTimeout)
        } catch is AsyncSemaphore.TimedOut {
            throw SessionPoolError.timedOut(configuration.checkoutTimeout)
        }
        defer { tokenWrites.signal() }
        return try await withSession(body)
    }

    /// Runs a blocking PKCS#11 call that needs no session (slot and token
    /// info) on the pool's threads.
    public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threads.runIfActive(body)
    }

    /// Closes every session and stops the threads. Borrowers still running
    /// finish first only if the caller awaited them; call this last.
    public func shutdown() async throws {
        let (sessions, anchor) = state.withLock { s -> ([Session], Session?) in
            s.isShutDown = true
            defer { s.idle = []; s.anchor = nil }
            return (s.idle, s.anchor)
        }
        for session in sessions { try? session.close() }
        if let anchor {
            try? anchor.logout()
            try? anchor.close()
        }
        try await threads.shutdownGracefully()
    }

    // MARK: Borrowing (runs on the pool's threads)

    private func runBorrowed<T>(_ body: (Session) throws -> T) throws -> T {
        var session = try checkOut()
        var attempts = 0
        while true {
            do {
                let result = try body(session)
                checkIn(session)
                return result
            } catch let error as PKCS11Error where attempts < 3 && (error.isSessionLost || error.code == .userNotLoggedIn) {
                attempts += 1
                if error.isSessionLost {
                    // One dead session usually means the others died with it
                    // (C_CloseAllSessions, a token reset): drop every idle one
                    // rather than meeting them one request at a time.
                    discard(session)
                    discardIdleSessions()
                    try restoreLogin()
                    session = try checkOut()
                } else {
                    try restoreLogin(force: true)
                }
            } catch {
                checkIn(session)
                throw error
            }
        }
    }

    private func discardIdleSessions() {
        let idle = state.withLock { s -> [Session] in
            defer { s.idle = [] }
            return s.idle
        }
        for session in idle { try? session.close() }
    }

    private func checkOut() throws -> Session {
        let reused = state.withLock { s -> Session? in
            s.borrowed += 1
            return s.idle.popLast()
        }
        if let reused { return reused }
        do {
            return try withBackoff { try token.openSession() }
        } catch {
            state.withLock { $0.borrowed -= 1 }
            throw error
        }
    }

    private func checkIn(_ session: Session) {
        let closeIt = state.withLock { s -> Bool in
            s.borrowed -= 1
            if s.isShutDown { return true }
            s.idle.append(session)
            return false
        }
        if closeIt { try? session.close() }
    }

    private func discard(_ session: Session) {
        try? session.close()
        state.withLock { s in
            s.borrowed -= 1
            s.generation &+= 1
        }
    }

    /// Makes sure the anchor is alive and logged in, replacing it if it died.
    private func restoreLogin(force: Bool = false, attempts: Int? = nil) throws {
        guard let pin else { return }
        let current = state.withLock { $0.anchor }
        if let current, !force, (try? current.state().isLoggedIn) == true { return }
        try withBackoff(attempts: attempts ?? configuration.reopenAttempts) {
            if let current, (try? current.state()) != nil {
                try current.login(.user, pin: pin)
                return
            }
            let fresh = try token.openSession()
            do { try fresh.login(.user, pin: pin) } catch {
                try? fresh.close()
                throw error
            }
            state.withLock { s in
                s.anchor = fresh
                s.generation &+= 1
            }
        }
    }

    private func withBackoff<R>(attempts: Int? = nil, _ attempt: () throws -> R) throws -> R {
        var delay = configuration.reopenBackoffMilliseconds
        let limit = attempts ?? configuration.reopenAttempts
        for tryNumber in 1... {
            do {
                return try attempt()
            } catch let error as PKCS11Error where !error.isPINFailure && tryNumber < limit {
                usleep(UInt32(delay * 1000))
                delay *= 2
            }
        }
        fatalError("unreachable")
    }
}

/// Why a session could not be borrowed.
public enum SessionPoolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Every session stayed lent out for the whole wait.
    case timedOut(Duration)

    public var description: String {
        switch self {
        case .timedOut(let wait): "no HSM session became free within \(wait)"
        }
    }
}
