import Crypto
import Dispatch
import Foundation
import KMSAuditFormat
import KMSModel
import Synchronization

/// The audit log (DESIGN.md §6): one JSON line per request, hash-chained,
/// with checkpoints signed by the token's audit key. The line format is
/// described on `AuditLine`.
///
/// **Durability and group commit.** `append` returns only after its line is
/// written and fsync'ed. One writer task owns the file: it takes every event
/// queued so far, writes them with one `write` and one `fsync`, then resumes
/// all their callers; events that arrive meanwhile form the next batch. So
/// under load many requests share one fsync, and a response never leaves
/// before its line is durable. Blocking calls run on a serial dispatch queue
/// of the log's own, never on Swift's cooperative pool.
///
/// **Fail closed.** If a write or fsync fails, that batch's appends and every
/// later one throw `AuditLogError` (callers answer `KMSInternalException`
/// and do not perform the operation), and `isWritable` turns false for
/// /health. The failure is permanent for this `AuditLog`: after a failed
/// write the file's end is unknown, so only a restart (which cuts off an
/// incomplete last line) may continue the chain. A line whose append threw
/// may still have reached the disk: the log can over-report, never under-report.
///
/// **Checkpoints** are written every `checkpointEveryLines` lines (batches
/// are cut at that boundary, so no more lines than that are ever unsigned
/// while the signer works), every `checkpointEverySeconds` if lines were
/// added, on `checkpoint()`, before each rotation, at `close`, and on open
/// when the previous run left an unsigned tail (after a crash). A signing
/// failure does not fail requests — the lines are durable and chained, and
/// the next checkpoint covers them — it is counted in `statistics`, and the
/// next try waits for the next trigger rather than following every batch.
///
/// **Rotation.** When `audit.log` reaches `maxFileBytes` it gets a
/// checkpoint, is renamed `audit-<first seq>.log`, and a new `audit.log`
/// continues the chain: its first line's `prev` is the hash of the old
/// file's last line. Reopening continues the chain from the last line on
/// disk, so restarts keep one chain.
///
/// Call `close()` before dropping the log: the writer task keeps it alive.
public final class AuditLog: Sendable {
    public struct Configuration: Sendable {
        /// Holds `audit.log` and its rotated predecessors; created 0700 if missing.
        public var directory: String
        /// Size at which `audit.log` is rotated.
        public var maxFileBytes: Int
        public var checkpointEveryLines: Int
        public var checkpointEverySeconds: Double
        /// Writes to this path instead of `directory/audit.log` (for tests,
        /// e.g. `/dev/full`). Only a regular file rotates.
        public var filePath: String?
        /// Longest a write and its fsync may take before the log is failed.
        public var writeTimeout: Duration = .seconds(10)

        public init(directory: String, maxFileBytes: Int = 64 << 20, checkpointEveryLines: Int = 1000,
                    checkpointEverySeconds: Double = 60, filePath: String? = nil) {
            self.directory = directory
            self.maxFileBytes = maxFileBytes
            self.checkpointEveryLines = checkpointEveryLines
            self.checkpointEverySeconds = checkpointEverySeconds
            self.filePath = filePath
        }

        var activePath: String { filePath ?? directory + "/" + AuditFile.activeName }
    }

    public struct Statistics: Sendable, Hashable {
        /// Seq of the last line written (event or checkpoint).
        public var lastSequence: UInt64 = 0
        public var eventsWritten = 0
        public var checkpointsWritten = 0
        public var checkpointFailures = 0
        /// Checkpoints whose seq could not be recorded in the token's anchor.
        public var anchorFailures = 0
        /// fsyncs of the file; far fewer than events under load.
        public var syncs = 0
        public var rotations = 0
    }

    public let configuration: Configuration
    private let signer: any AuditSigner
    private let anchor: (any AuditAnchor)?
    private let keyID: String
    /// The audit key's fingerprint (`SHA256:` and the key id every checkpoint names).
    public var keyFingerprint: String { "SHA256:" + keyID }
    private let queue = DispatchQueue(label: "p11kms.audit-log.io")
    private let state = Mutex(State())
    private let observer = Mutex<(@Sendable ([AuditEvent]) -> Void)?>(nil)

    /// The audit key's SubjectPublicKeyInfo (DER).
    public var publicKeyDER: [UInt8] { signer.publicKeyDER }

    /// A signature by the audit key over `digest` (SHA-256), for documents
    /// the daemon vouches for with the same key as its log (compliance reports).
    public func sign(digest: [UInt8]) async throws -> [UInt8] {
        try await signer.sign(digest: digest)
    }

    /// `observe` sees every batch of events once it is durable, on the
    /// writer's task, before their appenders resume: what it announces is
    /// always on record. It must not wait (the notifier only queues).
    public func observeRecorded(_ observe: @escaping @Sendable ([AuditEvent]) -> Void) {
        observer.withLock { $0 = observe }
    }

    private struct Pending {
        let event: AuditEvent
        let continuation: OnceContinuation
    }

    private struct State {
        var pending: [Pending] = []
        /// The writer, parked while there is nothing to do.
        var writerWaiting: CheckedContinuation<Void, Never>?
        var checkpointRequested = false
        var checkpointWaiters: [CheckedContinuation<Void, any Error>] = []
        var closeRequested = false
        var closeWaiters: [CheckedContinuation<Void, any Error>] = []
        var closed = false
        var failure: AuditLogError?
        /// The log ended before the token's anchor at start-up: every request
        /// is refused until an admin acknowledges it (`acknowledgeTruncation`).
        var truncation: AuditLogError?
        var timer: Task<Void, Never>?
        var statistics = Statistics()
        /// The batch being written, and since when (for the write watchdog).
        var writing: [Pending] = []
        var writeStarted: ContinuousClock.Instant?
    }

    private enum Work {
        case events([Pending])
        case checkpoint
        case close
    }

    /// Where the writer stands in the chain. Owned by the writer task alone.
    private struct Chain {
        var nextSeq: UInt64
        var lastHash: String
        /// Lines no checkpoint covers yet.
        var unsigned: Int
        /// Lines since a checkpoint was last tried, signed or not: the
        /// every-N-lines trigger, so a failing signer is not retried per batch.
        var sinceAttempt: Int

        mutating func add(_ line: [UInt8], isCheckpoint: Bool) {
            nextSeq += 1
            lastHash = AuditLine.hash(line)
            unsigned = isCheckpoint ? 0 : unsigned + 1
            sinceAttempt = isCheckpoint ? 0 : sinceAttempt + 1
        }
    }

    /// Opens or creates the log and continues its chain. If the last run
    /// crashed mid-write, the incomplete line is cut off and a service event
    /// saying so is the first line of this run; if it left lines after its
    /// last checkpoint, they are signed now.
    ///
    /// With an `anchor`, every checkpoint's seq and line hash is recorded in
    /// it, and a log found ending before the recorded point is truncated:
    /// nothing is appended and every request refused until an admin calls
    /// `acknowledgeTruncation`.
    public init(configuration: Configuration, signer: any AuditSigner, anchor: (any AuditAnchor)? = nil) async throws {
        self.configuration = configuration
        self.signer = signer
        self.anchor = anchor
        self.keyID = signer.publicKeyID
        let path = configuration.activePath
        let createDirectory = configuration.filePath == nil
        let (file, tail) = try await Self.run(on: queue) {
            try AuditFile.open(path: path, createDirectory: createDirectory)
        }
        var truncation: AuditLogError?
        if let recorded = try await anchor?.read(),
           recorded.sequence > tail.lastSeq || (recorded.sequence == tail.lastSeq && recorded.hash != tail.lastHash) {
            truncation = .truncated("the audit log ends at seq \(tail.lastSeq), before the point the token's anchor "
                + "recorded (\(recorded)): lines were cut off its end")
        }
        state.withLock { $0.truncation = truncation }
        let unsigned = tail.lastIsCheckpoint || tail.lastSeq == 0 ? 0 : 1
        let chain = Chain(nextSeq: tail.lastSeq + 1, lastHash: tail.lastHash, unsigned: unsigned, sinceAttempt: unsigned)
        state.withLock { $0.statistics.lastSequence = tail.lastSeq }
        Task { await self.write(file: file, chain: chain) }
        let interval = max(0.01, configuration.checkpointEverySeconds)
        let watch = min(Duration.seconds(1), configuration.writeTimeout / 4)
        let timer = Task { [weak self] in
            let clock = ContinuousClock()
            var nextCheckpoint = clock.now + .seconds(interval)
            while !Task.isCancelled {
                try? await Task.sleep(for: max(.zero, min(watch, nextCheckpoint - clock.now)))
                guard let self else { return }
                self.failStuckWrite()
                if clock.now >= nextCheckpoint {
                    self.requestCheckpoint()
                    nextCheckpoint = clock.now + .seconds(interval)
                }
            }
        }
        state.withLock { $0.timer = timer }
        if truncation != nil { return }
        do {
            if tail.droppedBytes > 0 {
                try await append(.service("audit log recovery: cut off \(tail.droppedBytes) bytes of an incomplete last "
                    + "line left by a crash during a write", operation: "AuditLogRecovery"))
            }
        } catch {
            try? await close()
            throw error
        }
        if unsigned > 0 || tail.droppedBytes > 0 {
            // Not fatal if the signer fails: the next checkpoint covers the tail.
            try? await checkpoint()
        }
    }

    /// Queues `event` and returns once its line is durable. Throws
    /// `AuditLogError` if it cannot be written: the caller must then fail
    /// the request with `KMSInternalException` (`error.kmsError`).
    ///
    /// The wait is bounded by `writeTimeout`: a write or fsync that has not
    /// returned by then (a disk that stopped answering) fails the log, and
    /// with it this and every later append. It deliberately does not end on
    /// task cancellation: a request cancelled at the drain deadline still
    /// gets its line, or a failure, within that bound.
    public func append(_ event: AuditEvent) async throws {
        try await append(event, evenIfTruncated: false)
    }

    private func append(_ event: AuditEvent, evenIfTruncated: Bool) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { s -> Result<CheckedContinuation<Void, Never>?, AuditLogError> in
                if let failure = s.failure { return .failure(failure) }
                if let truncation = s.truncation, !evenIfTruncated { return .failure(truncation) }
                if s.closeRequested { return .failure(.closed) }
                s.pending.append(Pending(event: event, continuation: OnceContinuation(c)))
                defer { s.writerWaiting = nil }
                return .success(s.writerWaiting)
            }
            switch outcome {
            case .failure(let error): c.resume(throwing: error)
            case .success(let writer): writer?.resume()
            }
        }
    }

    /// Writes a checkpoint now (after whatever is queued) unless the last
    /// line is one, and returns once it is durable. Throws if the log has
    /// failed or closed, or the signer failed.
    public func checkpoint() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { s -> Result<CheckedContinuation<Void, Never>?, AuditLogError> in
                if let failure = s.failure { return .failure(failure) }
                if s.closeRequested { return .failure(.closed) }
                s.checkpointWaiters.append(c)
                s.checkpointRequested = true
                defer { s.writerWaiting = nil }
                return .success(s.writerWaiting)
            }
            switch outcome {
            case .failure(let error): c.resume(throwing: error)
            case .success(let writer): writer?.resume()
            }
        }
    }

    /// Writes what is queued and a final checkpoint, then closes the file.
    /// Throws if the log had failed or the last writes fail.
    public func close() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let (closed, writer, timer) = state.withLock { s in
                if s.closed { return (true, nil as CheckedContinuation<Void, Never>?, nil as Task<Void, Never>?) }
                s.closeRequested = true
                s.closeWaiters.append(c)
                defer { s.writerWaiting = nil; s.timer = nil }
                return (false, s.writerWaiting, s.timer)
            }
            timer?.cancel()
            if closed { c.resume() } else { writer?.resume() }
        }
    }

    /// False once a write has failed, the log is closed, or it was found
    /// truncated and not yet acknowledged (for /health).
    public var isWritable: Bool {
        state.withLock { $0.failure == nil && $0.truncation == nil && !$0.closeRequested }
    }

    /// The truncation found at start-up, until acknowledged.
    public var truncation: AuditLogError? { state.withLock { $0.truncation } }

    /// An admin has looked at a truncated log and lets the daemon serve again.
    /// `event` (who acknowledged, what was found) is the first line written
    /// after the cut, then a checkpoint moves the anchor to the log as it now
    /// is. Returns false when there was nothing to acknowledge.
    public func acknowledgeTruncation(_ event: AuditEvent) async throws -> Bool {
        guard state.withLock({ $0.truncation != nil }) else { return false }
        try await append(event, evenIfTruncated: true)
        state.withLock { $0.truncation = nil }
        try await checkpoint()
        return true
    }

    /// Throws the error `append` would throw now, so a request can be
    /// refused before it does anything when the log is already broken.
    public func ensureWritable() throws {
        try state.withLock { s in
            if let failure = s.failure { throw failure }
            if let truncation = s.truncation { throw truncation }
            if s.closeRequested { throw AuditLogError.closed }
        }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    // MARK: The writer task

    /// Fails the log if a write has been in flight longer than
    /// `writeTimeout`, answering its callers and every queued one.
    private func failStuckWrite() {
        let limit = configuration.writeTimeout
        let stuck = state.withLock { s -> [Pending]? in
            guard let started = s.writeStarted, ContinuousClock.now - started > limit, s.failure == nil else { return nil }
            return s.writing
        }
        guard let stuck else { return }
        fail(.timedOut(limit), batch: .events(stuck))
    }

    private func requestCheckpoint() {
        let writer = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.closeRequested else { return nil }
            s.checkpointRequested = true
            defer { s.writerWaiting = nil }
            return s.writerWaiting
        }
        writer?.resume()
    }

    /// The next thing to do, parking until there is one. Queued events come
    /// first, cut so that the batch ends at the next checkpoint boundary.
    private func nextWork(room: Int) async -> Work {
        while true {
            let work = state.withLock { s -> Work? in
                // After a failure nothing more is written; only close is left.
                if s.failure != nil { return s.closeRequested ? .close : nil }
                if !s.pending.isEmpty {
                    let batch = Array(s.pending.prefix(max(1, room)))
                    s.pending.removeFirst(batch.count)
                    return .events(batch)
                }
                if s.checkpointRequested {
                    s.checkpointRequested = false
                    return .checkpoint
                }
                return s.closeRequested ? .close : nil
            }
            if let work { return work }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.closeRequested || (s.failure == nil && (!s.pending.isEmpty || s.checkpointRequested)) { return true }
                    s.writerWaiting = c
                    return false
                }
                if ready { c.resume() }
            }
        }
    }

    private func write(file initialFile: AuditFile, chain initialChain: Chain) async {
        var file = initialFile
        var chain = initialChain
        let everyLines = max(1, configuration.checkpointEveryLines)
        while true {
            let work = await nextWork(room: everyLines - chain.sinceAttempt)
            do {
                switch work {
                case .events(let batch):
                    try await writeEvents(batch, &file, &chain)
                    if chain.sinceAttempt >= everyLines { _ = try await writeCheckpoint(&file, &chain) }
                    if file.isRegular, file.size >= configuration.maxFileBytes { try await rotate(&file, &chain) }
                case .checkpoint:
                    let signingError = try await writeCheckpoint(&file, &chain)
                    let waiters = state.withLock { s in
                        defer { s.checkpointWaiters = [] }
                        return s.checkpointWaiters
                    }
                    for waiter in waiters {
                        if let signingError { waiter.resume(throwing: signingError) } else { waiter.resume() }
                    }
                case .close:
                    let signingError = state.withLock({ $0.failure == nil }) ? try await writeCheckpoint(&file, &chain) : nil
                    finishClose(file, error: signingError)
                    return
                }
            } catch {
                let failure = error as? AuditLogError ?? .io("write", file.path, EIO)
                fail(failure, batch: work)
                if case .close = work {
                    finishClose(file, error: failure)
                    return
                }
            }
        }
    }

    private func writeEvents(_ batch: [Pending], _ file: inout AuditFile, _ chain: inout Chain) async throws {
        var bytes: [UInt8] = []
        file.noteFirstSeq(chain.nextSeq)
        for pending in batch {
            let line = AuditLine.event(seq: chain.nextSeq, prev: chain.lastHash, pending.event)
            chain.add(line, isCheckpoint: false)
            bytes += line
        }
        let current = file
        let lines = bytes
        state.withLock { s in
            s.writing = batch
            s.writeStarted = .now
        }
        file = try await Self.run(on: queue) {
            var f = current
            try f.append(lines)
            try f.sync()
            return f
        }
        let stuck = state.withLock { s in
            defer { s.writing = []; s.writeStarted = nil }
            return s.failure != nil
        }
        // The watchdog gave up on this write meanwhile: its callers were
        // answered with the failure, and nothing more is written.
        if stuck { throw state.withLock { $0.failure } ?? .closed }
        state.withLock { s in
            s.statistics.eventsWritten += batch.count
            s.statistics.syncs += 1
            s.statistics.lastSequence = chain.nextSeq - 1
        }
        if let observe = observer.withLock({ $0 }) { observe(batch.map(\.event)) }
        for pending in batch { pending.continuation.resume() }
    }

    /// Signs the chain head and writes a checkpoint, unless the last line is
    /// one already. A signer failure only leaves the tail unsigned for now
    /// and is returned; a write failure throws.
    private func writeCheckpoint(_ file: inout AuditFile, _ chain: inout Chain) async throws -> AuditLogError? {
        chain.sinceAttempt = 0
        guard chain.unsigned > 0, let head = AuditLine.bytes(hex: chain.lastHash) else { return nil }
        let signature: [UInt8]
        do {
            signature = try await signer.sign(digest: AuditLine.checkpointDigest(headBytes: head))
        } catch {
            state.withLock { $0.statistics.checkpointFailures += 1 }
            return .notSigned(error)
        }
        let line = AuditLine.checkpoint(seq: chain.nextSeq, head: chain.lastHash, signature: signature, keyID: keyID)
        file.noteFirstSeq(chain.nextSeq)
        let current = file
        file = try await Self.run(on: queue) {
            var f = current
            try f.append(line)
            try f.sync()
            return f
        }
        chain.add(line, isCheckpoint: true)
        let truncated = state.withLock { s in
            s.statistics.checkpointsWritten += 1
            s.statistics.syncs += 1
            s.statistics.lastSequence = chain.nextSeq - 1
            return s.truncation != nil
        }
        // The anchor follows the durable checkpoint (never ahead of the file).
        // A failed anchor write only leaves it behind, which is safe.
        if let anchor, !truncated {
            do {
                try await anchor.write(AuditAnchorValue(sequence: chain.nextSeq - 1, hash: chain.lastHash))
            } catch {
                state.withLock { $0.statistics.anchorFailures += 1 }
            }
        }
        return nil
    }

    private func rotate(_ file: inout AuditFile, _ chain: inout Chain) async throws {
        _ = try await writeCheckpoint(&file, &chain)
        let current = file
        file = try await Self.run(on: queue) {
            var f = current
            try f.rotate()
            return f
        }
        state.withLock { $0.statistics.rotations += 1 }
    }

    /// Fails the batch in hand, everything queued, and everything after.
    private func fail(_ failure: AuditLogError, batch work: Work) {
        var failed: [OnceContinuation] = []
        if case .events(let batch) = work { failed = batch.map(\.continuation) }
        let waiters = state.withLock { s in
            if s.failure == nil { s.failure = failure }
            failed += s.pending.map(\.continuation)
            defer { s.pending = []; s.checkpointWaiters = [] }
            return s.checkpointWaiters
        }
        let reported = state.withLock { $0.failure } ?? failure
        for continuation in failed { continuation.resume(throwing: reported) }
        for waiter in waiters { waiter.resume(throwing: reported) }
    }

    private func finishClose(_ file: AuditFile, error: AuditLogError?) {
        queue.async { file.close() }
        let (waiters, failure) = state.withLock { s in
            s.closed = true
            defer { s.closeWaiters = [] }
            return (s.closeWaiters, error ?? s.failure)
        }
        for waiter in waiters {
            if let failure { waiter.resume(throwing: failure) } else { waiter.resume() }
        }
    }

    private static func run<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            queue.async { c.resume(with: Result { try body() }) }
        }
    }
}
/// A continuation that may be resumed from two places (the writer, and the
/// watchdog that gives up on a stuck write); the first resume wins.
private final class OnceContinuation: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, any Error>?>

    init(_ continuation: CheckedContinuation<Void, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume() {
        continuation.withLock { c in defer { c = nil }; return c }?.resume()
    }

    func resume(throwing error: any Error) {
        continuation.withLock { c in defer { c = nil }; return c }?.resume(throwing: error)
    }
}
