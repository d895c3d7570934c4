import Foundation
import KMSAuditFormat
import KMSCore
import Logging
import Synchronization
import SoftHSMTestSupport  // ChildProcess: posix_spawn, pipes drained off the cooperative pool

/// A `[[notify]]` entry: where key lifecycle events go, and which.
public struct NotificationTarget: Sendable, Equatable {
    public enum Sink: Sendable, Equatable {
        /// argv of a program run once per event (no shell), the event as
        /// JSON on its standard input; exit status 0 is a delivery.
        case command([String])
        /// A named pipe (FIFO) the event is appended to as one JSON line.
        case pipe(String)
    }

    public var sink: Sink
    /// The kinds delivered; nil for every kind.
    public var kinds: Set<NotificationEvent.Kind>?
    /// Tries per event before it is recorded as not delivered; the waits
    /// between them double from 1 s, up to 60 s.
    public var attempts: Int

    public static let defaultAttempts = 5

    public init(sink: Sink, kinds: Set<NotificationEvent.Kind>? = nil, attempts: Int = Self.defaultAttempts) {
        self.sink = sink
        self.kinds = kinds
        self.attempts = attempts
    }

    var summary: String {
        switch sink {
        case .command(let argv): "command \(argv.first ?? "?")"
        case .pipe(let path): "pipe \(path)"
        }
    }
}

/// Delivers key lifecycle events to the `[[notify]]` targets. Events come
/// from the audit log once they are durable (`AuditLog.observeRecorded`), so
/// nothing is announced that is not on record, and a request never waits
/// for a delivery: observing only queues. Each target has its own queue
/// and task, in order; a delivery that fails is retried with exponential
/// backoff, and every delivery and every final failure is itself an audit
/// line (`NotificationDelivered`, `NotificationFailed`). Events beyond a
/// target's queue bound are dropped and recorded (`NotificationDropped`)
/// rather than held in memory without limit.
public final class Notifier: Sendable {
    public struct Policy: Sendable {
        public var firstRetry: Duration = .seconds(1)
        public var maxRetry: Duration = .seconds(60)
        /// Longest a command may run, or a pipe may refuse a write, per attempt.
        public var timeout: Duration = .seconds(30)
        public var queueLimit = 10_000
        public init() {}
    }

    private struct Queue: Sendable {
        let target: NotificationTarget
        let index: Int
        let stream: AsyncStream<NotificationEvent>
        let continuation: AsyncStream<NotificationEvent>.Continuation
    }

    private let queues: [Queue]
    private let policy: Policy
    /// Set by `finish()`: what is queued gets one more try, without waiting
    /// between tries, so a failing target cannot hold up the daemon's exit.
    private let stopping = Mutex(false)
    private let record: @Sendable (AuditEvent) async -> Void
    private let logger: Logger

    /// `record` appends an audit line (the daemon's `AuditLog.append`).
    public init(targets: [NotificationTarget], policy: Policy = Policy(), logger: Logger,
                record: @escaping @Sendable (AuditEvent) async -> Void) {
        self.policy = policy
        self.record = record
        self.logger = logger
        queues = targets.enumerated().map { index, target in
            let (stream, continuation) = AsyncStream.makeStream(of: NotificationEvent.self,
                                                                bufferingPolicy: .bufferingOldest(policy.queueLimit))
            return Queue(target: target, index: index, stream: stream, continuation: continuation)
        }
    }

    /// Queues the notifications these recorded events make. Never waits.
    public func observe(_ events: [AuditEvent]) {
        for event in events {
            guard let notification = NotificationEvent(event) else { continue }
            for queue in queues where queue.target.kinds?.contains(notification.kind) ?? true {
                if case .dropped = queue.continuation.yield(notification) {
                    let note = "notify[\(queue.index)] (\(queue.target.summary)) queue full: "
                        + "\(notification.kind.rawValue) of request \(notification.requestID) dropped"
                    logger.error("\(note)")
                    Task { [record] in await record(Self.line("NotificationDropped", note, notification, outcome: .failed)) }
                }
            }
        }
    }

    /// Delivers until cancelled or `finish()`: one task per target.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for queue in queues {
                group.addTask { [self] in
                    for await event in queue.stream { await deliver(event, to: queue) }
                }
            }
        }
    }

    /// Ends the queues; `run()` returns once what is queued is delivered (or given up).
    public func finish() {
        stopping.withLock { $0 = true }
        for queue in queues { queue.continuation.finish() }
    }

    private func deliver(_ event: NotificationEvent, to queue: Queue) async {
        var wait = policy.firstRetry
        var lastError = ""
        let attempts = max(1, queue.target.attempts)
        var tried = 0
        for attempt in 1...attempts {
            tried = attempt
            do {
                try await send(event.json, to: queue.target.sink)
                let note = "notify[\(queue.index)] (\(queue.target.summary)): \(event.kind.rawValue) of request "
                    + "\(event.requestID) delivered (attempt \(attempt))"
                await record(Self.line("NotificationDelivered", note, event, outcome: .allowed))
                return
            } catch {
                lastError = "\(error)"
                logger.warning("notify[\(queue.index)] attempt \(attempt) failed: \(lastError)")
            }
            if attempt == attempts || Task.isCancelled || stopping.withLock({ $0 }) { break }
            // In short steps, so finish() ends the wait.
            let until = ContinuousClock.now + wait
            while ContinuousClock.now < until, !Task.isCancelled, !stopping.withLock({ $0 }) {
                try? await Task.sleep(for: min(.milliseconds(100), until - ContinuousClock.now))
            }
            wait = min(wait * 2, policy.maxRetry)
        }
        let note = "notify[\(queue.index)] (\(queue.target.summary)): \(event.kind.rawValue) of request "
            + "\(event.requestID) not delivered after \(tried) attempts"
            + (tried < attempts ? " (the daemon was stopping)" : "") + ": \(lastError.prefix(300))"
        logger.error("\(note)")
        await record(Self.line("NotificationFailed", note, event, outcome: .failed))
    }

    static let environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    private func send(_ json: Data, to sink: NotificationTarget.Sink) async throws {
        switch sink {
        case .command(let argv):
            guard let program = argv.first else { throw Failed(description: "the command is empty") }
            // Its own minimal environment: the daemon's may hold the PIN (hsm.pin_env).
            let result = try await ChildProcess.run(program, Array(argv.dropFirst()), environment: Self.environment,
                                                    input: json + Data("\n".utf8), timeout: policy.timeout)
            guard result.status == 0 else {
                throw Failed(description: "exit status \(result.status): \(result.errors.prefix(200))")
            }
        case .pipe(let path):
            try await Self.append(json + Data("\n".utf8), toPipe: path, timeout: policy.timeout)
        }
    }

    /// One write to a FIFO, opened without blocking: no reader (ENXIO) or a
    /// full pipe is a failed attempt, never a wait. A line up to PIPE_BUF
    /// (4 KiB) is written whole, so lines of several writers never interleave.
    static func append(_ line: Data, toPipe path: String, timeout: Duration) async throws {
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw Failed(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFIFO else {
            throw Failed(description: "\(path) is not a named pipe")
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written == line.count { return }
            if written >= 0 { throw Failed(description: "short write to \(path)") }
            guard errno == EAGAIN || errno == EINTR, ContinuousClock.now < deadline else {
                throw Failed(description: "write to \(path): \(String(cString: strerror(errno)))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private static func line(_ operation: String, _ note: String, _ event: NotificationEvent,
                             outcome: AuditOutcome) -> AuditEvent {
        AuditEvent(requestID: UUID().uuidString.lowercased(), operation: operation, principal: .service,
                   keyID: event.keyID, keyVersion: event.keyVersion, outcome: outcome, note: note)
    }
}
