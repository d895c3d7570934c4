import Foundation

/// Why the audit log could not do something. Callers of `append` turn any
/// of these into `KMSInternalException` via `kmsError` (in KMSCore, which
/// owns the mapping to AWS errors).
public struct AuditLogError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case io(call: String, path: String, errno: Int32)
        case closed
        case corrupt(path: String, reason: String)
        case unreadable(path: String, reason: String)
        case auditKey(String)
        case notSigned(String)
        case timedOut(Duration)
        case truncated(String)
    }

    private let code: Code

    private init(_ code: Code) { self.code = code }

    package static func io(_ call: String, _ path: String, _ errno: Int32) -> AuditLogError {
        .init(.io(call: call, path: path, errno: errno))
    }
    package static func corrupt(_ path: String, _ reason: String) -> AuditLogError { .init(.corrupt(path: path, reason: reason)) }
    package static func unreadable(_ path: String, _ reason: String) -> AuditLogError { .init(.unreadable(path: path, reason: reason)) }
    package static func auditKey(_ message: String) -> AuditLogError { .init(.auditKey(message)) }
    package static func notSigned(_ error: any Error) -> AuditLogError { .init(.notSigned(String(describing: error))) }
    package static func timedOut(_ wait: Duration) -> AuditLogError { .init(.timedOut(wait)) }
    /// The log on disk ends before the point the token's anchor recorded.
    public static func truncated(_ finding: String) -> AuditLogError { .init(.truncated(finding)) }

    /// True for `truncated`: a tamper finding an operator must acknowledge.
    public var isTruncation: Bool {
        if case .truncated = code { return true }
        return false
    }

    /// The log was closed; nothing more is written.
    public static let closed = AuditLogError(.closed)

    /// True when a line could not be written or synced.
    public var isWriteFailure: Bool {
        if case .io = code { return true }
        return false
    }

    public var description: String {
        switch code {
        case .io(let call, let path, let errno):
            "\(call)(\(path)): \(String(cString: strerror(errno))) (errno \(errno))"
        case .closed:
            "the audit log is closed"
        case .corrupt(let path, let reason):
            "\(path): \(reason)"
        case .unreadable(let path, let reason):
            "\(path): \(reason)"
        case .auditKey(let message):
            message
        case .notSigned(let reason):
            "the checkpoint could not be signed: \(reason)"
        case .timedOut(let wait):
            "a write to the audit log did not finish within \(wait)"
        case .truncated(let finding):
            finding
        }
    }
}
