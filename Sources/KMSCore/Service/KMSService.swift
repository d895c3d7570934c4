import Foundation
import KMSAuditFormat
import KMSModel
import Logging
import PKCS11
import Synchronization

/// The one request pipeline (DESIGN.md §9), in the manner of Vault's
/// request handling: every front end names the caller and calls `handle`,
/// the HTTP listeners with the request's JSON body, the Kubernetes plugin
/// with a typed engine call (its protocol is protobuf, and writing JSON
/// only to parse it again cost a tenth of its CPU). Here, whatever the
/// transport:
///
/// 1. the operation is decoded from its target;
/// 2. a request is refused, unperformed, if the audit log is already known
///    broken, or if the front end refused it (a bad signature);
/// 3. admission: a bounded number of requests at once, and of those a
///    bounded number per caller, else ThrottlingException;
/// 4. the engine performs it, noting the key, version and context it used;
/// 5. **the audit line is appended and made durable before the response is
///    returned**; if that fails the response becomes KMSInternalException,
///    so no plaintext ever leaves unrecorded;
/// 6. metrics are recorded.
public final class KMSService: Sendable {
    public struct Configuration: Sendable {
        /// Requests performed at once; one more is refused with
        /// ThrottlingException. Nil: no bound.
        public var maxConcurrentRequests: Int?
        /// Requests of one caller (a uid, or an access key) at once. Nil: no bound.
        public var maxRequestsPerCaller: Int?
        public init(maxConcurrentRequests: Int? = nil, maxRequestsPerCaller: Int? = nil) {
            self.maxConcurrentRequests = maxConcurrentRequests
            self.maxRequestsPerCaller = maxRequestsPerCaller
        }
    }

    /// One request, as a front end hands it over.
    public struct Request: Sendable {
        /// What the caller asked for, e.g. `TrentService.Encrypt` (X-Amz-Target).
        public var target: String?
        public var body: Data
        /// Who sent it; nil when the front end could not tell (then `refusal` says why).
        public var caller: Principal?
        /// How the audit line names the caller (also for an unidentified one).
        public var auditCaller: AuditPrincipal
        /// A refusal the front end decided (a bad signature, a wrong content
        /// type): recorded, and returned without performing anything.
        public var refusal: KMSError?
        public var requestID: String
        /// Pairs the front end adds to the audit line's encryption context
        /// that are bound to no ciphertext: what its protocol says about the
        /// request (the Kubernetes plugin's request `uid`).
        public var auditContext: [String: String]

        public init(target: String?, body: Data, caller: Principal?, auditCaller: AuditPrincipal? = nil,
                    refusal: KMSError? = nil, requestID: String = UUID().uuidString.lowercased(),
                    auditContext: [String: String] = [:]) {
            self.target = target
            self.body = body
            self.caller = caller
            self.auditCaller = auditCaller ?? caller.map(AuditPrincipal.init) ?? .unidentified()
            self.refusal = refusal
            self.requestID = requestID
            self.auditContext = auditContext
        }
    }

    /// The answer: a JSON body, and the error it carries if it is one.
    public struct Response: Sendable {
        public var body: Data
        public var error: KMSError?
        public var requestID: String
        /// 200, or the error's HTTP status.
        public var httpStatus: Int { error?.httpStatus ?? 200 }
    }

    public let engine: KMSEngine
    public let audit: AuditLog
    public let configuration: Configuration
    private let router = OperationRouter()
    private let admission: Admission
    private let metrics: (any RequestMetrics)?
    private let logger: Logger
    private let work = Mutex(Work())

    /// Requests being performed, so a drain past its deadline can cancel them.
    private struct Work {
        var tasks: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
        var cancelled = false
    }

    public init(engine: KMSEngine, audit: AuditLog, configuration: Configuration = .init(),
                metrics: (any RequestMetrics)? = nil, logger: Logger = Logger(label: "p11kms.service")) {
        self.engine = engine
        self.audit = audit
        self.configuration = configuration
        self.admission = Admission(total: configuration.maxConcurrentRequests, perCaller: configuration.maxRequestsPerCaller)
        self.metrics = metrics
        self.logger = logger
    }

    /// Requests admitted and not yet answered.
    public var requestsInFlight: Int { admission.running }

    /// Errors the audit log records as `denied`: the caller was not allowed,
    /// or could not prove who it is.
    static let deniedNames: Set<KMSError.Name> = [
        .accessDenied, .missingAuthenticationToken, .incompleteSignature, .invalidSignature, .unrecognizedClient,
    ]

    public func handle(_ request: Request) async -> Response {
        // Metrics label only known operations (a client-chosen label would let
        // anyone grow the series without bound); the audit line keeps what was sent.
        let operation = Result { try router.operation(target: request.target) }
        let result = await run(request, operation) { [router, engine, body = request.body] op, caller, facts in
            try await router.handle(op, engine: engine, body: body, caller: caller, facts: facts)
        }
        switch result {
        case .success(let body): return Response(body: body, error: nil, requestID: request.requestID)
        case .failure(let error): return Response(body: AWSJSONCodec.errorBody(error), error: error, requestID: request.requestID)
        }
    }

    /// The same pipeline for a front end that speaks its own protocol (the
    /// Kubernetes plugin): it hands over the engine call itself, typed, so
    /// its request is not written as JSON only to be parsed again here, nor
    /// the answer. Every step but the routing is `handle`'s: the audit log's
    /// state, the front end's refusal, admission, the durable audit line.
    /// `request.target` and `request.body` are not read.
    public func handle<Answer: Sendable>(
        _ request: Request, operation: KMSOperation,
        _ call: @escaping @Sendable (KMSEngine, Principal, AuditFacts) async throws -> Answer
    ) async -> Result<Answer, KMSError> {
        await run(request, .success(operation)) { [engine] _, caller, facts in try await call(engine, caller, facts) }
    }

    private func run<Answer: Sendable>(
        _ request: Request, _ operation: Result<KMSOperation, any Error>,
        _ work: @escaping @Sendable (KMSOperation, Principal, AuditFacts) async throws -> Answer
    ) async -> Result<Answer, KMSError> {
        let start = ContinuousClock.now
        let known = try? operation.get()
        let facts = AuditFacts()
        var result: Result<Answer, KMSError>
        do {
            result = .success(try await perform(request, operation, facts, work))
        } catch {
            result = .failure(kmsError(error, known))
        }
        var error: KMSError? = if case .failure(let e) = result { e } else { nil }
        await record(request, known, facts, &error, since: start)
        if let error { result = .failure(error) }
        let outcome = error?.name.rawValue ?? "success"
        metrics?.record(operation: known?.rawValue ?? "unknown", outcome: outcome, duration: ContinuousClock.now - start)
        logger.debug("request", metadata: [
            "request_id": .string(request.requestID), "operation": .string(known?.rawValue ?? "unknown"),
            "outcome": .string(outcome), "caller": .string(request.caller?.summary ?? "?"),
        ])
        return result
    }

    /// Steps 1–4: everything up to the audit line.
    private func perform<Answer: Sendable>(
        _ request: Request, _ operation: Result<KMSOperation, any Error>, _ facts: AuditFacts,
        _ work: @escaping @Sendable (KMSOperation, Principal, AuditFacts) async throws -> Answer
    ) async throws -> Answer {
        // Nothing is performed while the log is known broken.
        try audit.ensureWritable()
        if let refusal = request.refusal { throw refusal }
        let op = try operation.get()
        guard let caller = request.caller else {
            throw KMSError(.accessDenied, "The caller's identity could not be read from the connection.")
        }
        let slot = caller.admissionKey
        switch admission.admit(slot) {
        case nil:
            break
        case .full(let limit)?:
            throw KMSError(.throttling, "Too many requests are in progress (\(limit) at once); retry with backoff.")
        case .caller(let limit)?:
            throw KMSError(.throttling, "\(caller.summary) has \(limit) requests in progress, the most one caller may; "
                           + "retry with backoff.")
        }
        defer { admission.release(slot) }
        return try await tracked { try await work(op, caller, facts) }
    }

    /// Step 5: the durable audit line, or the request fails closed.
    private func record(_ request: Request, _ operation: KMSOperation?, _ facts: AuditFacts,
                        _ error: inout KMSError?, since start: ContinuousClock.Instant) async {
        var details = facts.recorded
        if !request.auditContext.isEmpty {
            details.encryptionContext = (details.encryptionContext ?? [:]).merging(request.auditContext) { ours, _ in ours }
        }
        let errorName = error?.name
        let event = AuditEvent(
            requestID: request.requestID,
            operation: operation?.rawValue ?? "unknown:" + String((request.target ?? "none").prefix(64)),
            principal: request.auditCaller,
            keyID: details.keyID, keyVersion: details.keyVersion, encryptionContext: details.encryptionContext,
            outcome: errorName.map { Self.deniedNames.contains($0) ? .denied : .failed } ?? .allowed,
            error: errorName?.rawValue, durationMilliseconds: Self.milliseconds(ContinuousClock.now - start),
            grantID: details.grantID)
        do {
            try await audit.append(event)
            // On record, so a use GetKeyLastUsage reports is always in the audit log.
            if error == nil, let operation {
                engine.recordUse(operation, keyIDs: details.keyIDs, requestID: request.requestID)
            }
        } catch let failure {
            if let truncated = failure as? AuditLogError, truncated.isTruncation {
                // Refused before it was performed; the log takes no lines until acknowledged.
                error = truncated.kmsError
            } else {
                logger.critical("audit log cannot be written; failing the request closed: \(failure)")
                error = KMSError.internalError("The audit log cannot be written, so the request is refused.")
            }
        }
    }

    private func kmsError(_ error: any Error, _ operation: KMSOperation?) -> KMSError {
        switch error {
        case let e as KMSError:
            return e
        case let e as AuditLogError:
            logger.critical("audit log cannot be written; refusing requests: \(e)")
            return e.kmsError
        case is CancellationError:
            return KMSError.internalError("The request was cancelled because the service is shutting down; retry.")
        case let e as SessionPoolError:
            return KMSError(.dependencyTimeout, "The HSM is busy: \(e); retry with backoff.")
        case let e as PKCS11Error:
            // The function and return code only: nothing of the request.
            logger.error("HSM error in \(operation?.rawValue ?? "unknown"): \(e)")
            return KMSError.internalError("The HSM failed the request (\(e.code)); see the daemon log.")
        default:
            logger.error("internal error in \(operation?.rawValue ?? "unknown"): \(String(describing: type(of: error)))")
            return KMSError.internalError("The request failed inside the service; see the daemon log.")
        }
    }

    private static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    // MARK: Draining

    /// Runs the engine's part of a request as a task the service can cancel
    /// (`cancelInFlight`), without cancelling the front end's task, which
    /// must still write the answer.
    private func tracked<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let id = work.withLock { w -> UInt64? in
            if w.cancelled { return nil }
            w.nextID += 1
            w.tasks[w.nextID] = { task.cancel() }
            return w.nextID
        }
        guard let id else {
            task.cancel()
            return try await task.value
        }
        defer { _ = work.withLock { $0.tasks.removeValue(forKey: id) } }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// Cancels every request still being performed, and every later one:
    /// the end of a drain that outlasted its deadline. They answer
    /// KMSInternalException (and are audited as failed).
    public func cancelInFlight() {
        let tasks = work.withLock { w in
            w.cancelled = true
            return Array(w.tasks.values)
        }
        tasks.forEach { $0() }
    }
}

/// Where the pipeline reports each request (Prometheus, in the daemon).
public protocol RequestMetrics: Sendable {
    func record(operation: String, outcome: String, duration: Duration)
}

extension Principal {
    /// Whose share of the admission bound a request counts against.
    var admissionKey: String {
        if let name = accessKeyName { return "access-key:" + name }
        return "uid:\(uid)"
    }
}
