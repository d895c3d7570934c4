import Foundation
import KMSAuditFormat

/// A key lifecycle event as a `[[notify]]` target receives it: one JSON
/// object, on a command's standard input or as one line of a named pipe.
/// It is made from an audit event that is already on record and carries
/// only what the audit line does (ids, names, times); never key material,
/// plaintext, encryption context values or a PIN.
public struct NotificationEvent: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case rotation
        case disable
        case deletionScheduled = "deletion-scheduled"
        case deletionDone = "deletion-done"
        case importExpiryApproaching = "import-expiry-approaching"
        case rotationOverdue = "rotation-overdue"
        /// An audit or metadata finding: tampering or rollback detected, a
        /// log recovered after a crash, a finding acknowledged by an admin.
        case integrity
    }

    public var kind: Kind
    public var time: Date
    /// The audit line's operation (`RotateKeyOnDemand`, `RotateKey`, ...).
    public var operation: String
    /// The audit line's request id, to find the line: `p11kms audit` prints it.
    public var requestID: String
    public var keyID: String?
    public var keyVersion: UInt32?
    /// Who asked: `uid:N (user)`, `access_key:NAME`, or `service` for the daemon itself.
    public var principal: String
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case kind, time, operation, note, principal
        case requestID = "request_id", keyID = "key_id", keyVersion = "key_version"
    }

    /// Audit operations that announce an event, by kind. The scheduler's own
    /// lines use CloudTrail's names for the same events (`RotateKey`,
    /// `DeleteKey`).
    static let kinds: [String: Kind] = [
        "RotateKeyOnDemand": .rotation, "RotateKey": .rotation,
        "DisableKey": .disable,
        "ScheduleKeyDeletion": .deletionScheduled, "DeleteKey": .deletionDone,
        "ImportKeyMaterialExpiring": .importExpiryApproaching,
        "RotationOverdue": .rotationOverdue,
        "MetadataIntegrity": .integrity, "AuditLogRecovery": .integrity,
        "AcknowledgeAuditTruncation": .integrity, "AcknowledgeMetadataRollback": .integrity,
    ]

    /// The notification an audit event makes, if any: only for what was
    /// done (an allowed request, or the service's own event), not refused.
    public init?(_ event: AuditEvent) {
        guard event.outcome == .allowed, let kind = Self.kinds[event.operation] else { return nil }
        self.kind = kind
        time = event.time
        operation = event.operation
        requestID = event.requestID
        keyID = event.keyID
        keyVersion = event.keyVersion
        let p = event.principal
        principal = p.pid == getpid() && p.uid == getuid() ? "service" : p.name
        note = event.note
    }

    /// The event as one line of JSON (sorted keys, ISO 8601 time).
    public var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        // Encoding a struct of strings and numbers cannot fail.
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }
}
