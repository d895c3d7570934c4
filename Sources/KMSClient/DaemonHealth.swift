/// What `GET /health` reports (README "Try it with curl").
public struct DaemonHealth: Decodable, Sendable, Hashable {
    /// "ok" or "degraded".
    public var status: String
    public var tokenPresent: Bool
    public var loggedIn: Bool
    public var storeWritable: Bool
    public var sessions: Sessions
    public var keysUnavailable: [String]
    /// Keys whose sealed metadata failed its check, with what failed.
    public var metadataTampered: [String: String]
    /// Absent when the daemon has no state directory of its own.
    public var stateDirectoryWritable: Bool?
    /// Absent when the daemon writes no audit log.
    public var auditWritable: Bool?
    /// `SHA256:…` of the audit key, for `p11kms audit verify --key-fingerprint`.
    public var auditKeyFingerprint: String?
    /// Whether keys unwrapped under the domain key are forced sensitive and
    /// non-extractable; nil in token storage (no domain key).
    public var unwrapTemplateEnforced: Bool?
    /// Set when the audit log was found cut short at start-up and no admin
    /// has acknowledged it yet: every request is refused until then.
    public var auditTruncated: String?

    public var isHealthy: Bool { status == "ok" }

    public struct Sessions: Decodable, Sendable, Hashable {
        public var open: Int
        public var borrowed: Int
        public var max: Int
    }
}
