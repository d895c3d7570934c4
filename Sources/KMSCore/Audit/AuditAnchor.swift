import Foundation
import KMSAuditFormat
import PKCS11

/// The last point of the audit chain known durable, kept where the log's
/// own storage cannot roll it back: a token object.
///
/// Cutting lines off the end of the log back to an earlier checkpoint, while
/// the daemon is stopped, leaves a chain that verifies: nothing in the
/// remaining lines says more existed. So after every checkpoint the daemon
/// records that checkpoint's seq and line hash here, and at start-up a log
/// that ends before it is a tamper finding. The issue (#14) suggested the
/// sealed metadata store as well; the store is a file the same attacker may
/// restore from a backup, the token is not, so the token alone is used.
public struct AuditAnchorValue: Sendable, Hashable, CustomStringConvertible {
    public var sequence: UInt64
    /// Hash of the line with that seq (what the next line's `prev` is).
    public var hash: String

    public init(sequence: UInt64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }

    public var description: String { "seq \(sequence), line hash \(hash)" }

    var bytes: [UInt8] { Array("\(sequence):\(hash)".utf8) }

    init?(bytes: [UInt8]) {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ":")
        guard parts.count == 2, let seq = UInt64(parts[0]), parts[1].count == 64 else { return nil }
        self.init(sequence: seq, hash: String(parts[1]))
    }
}

public protocol AuditAnchor: Sendable {
    func read() async throws -> AuditAnchorValue?
    func write(_ value: AuditAnchorValue) async throws
}

/// The anchor as a private `CKO_DATA` token object labelled
/// `p11kms-audit-anchor`, its `CKA_VALUE` `<seq>:<hash>`.
public struct HSMAuditAnchor: AuditAnchor {
    public static let label = "p11kms-audit-anchor"
    private let pool: SessionPool

    public init(pool: SessionPool) {
        self.pool = pool
    }

    public func read() async throws -> AuditAnchorValue? {
        try await pool.withSession { s in try Self.current(s)?.value }
    }

    /// SoftHSM 2.6 refuses C_SetAttributeValue on a data object's CKA_VALUE,
    /// so each write creates the new anchor and then destroys the old ones.
    /// A crash in between leaves two; the higher one counts, and the next
    /// write removes the other.
    public func write(_ value: AuditAnchorValue) async throws {
        try await pool.withTokenWrite { s in
            let old = try s.findObjects([.class(.data), .token(true), .label(Self.label)])
            _ = try s.createObject([.class(.data), .token(true), .private(true), .label(Self.label),
                                    Attribute(.application, bytes: Array("p11kms".utf8)), .value(value.bytes)])
            for object in old { try s.destroyObject(object) }
        }
    }

    private static func current(_ s: Session) throws -> (object: ObjectHandle, value: AuditAnchorValue)? {
        var best: (object: ObjectHandle, value: AuditAnchorValue)?
        for object in try s.findObjects([.class(.data), .token(true), .label(label)]) {
            guard let value = AuditAnchorValue(bytes: try s.attribute(.value, of: object).value) else {
                throw AuditLogError.truncated("the token's audit anchor (\(label)) is unreadable")
            }
            if best.map({ value.sequence > $0.value.sequence }) ?? true { best = (object, value) }
        }
        return best
    }
}
