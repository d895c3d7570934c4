import Foundation

/// The last successful use of a key by one operation (GetKeyLastUsage).
/// One row per key and operation, so the store holds at most a dozen per key.
public struct KeyUsageRecord: Sendable, Hashable {
    public var keyID: String
    /// A `KeyLastUsageTrackingOperation` name: `Encrypt`, `Sign`, ….
    public var operation: String
    public var usedAt: Date
    /// The request's id, which its audit line carries too.
    public var requestID: String

    public init(keyID: String, operation: String, usedAt: Date, requestID: String) {
        self.keyID = keyID
        self.operation = operation
        self.usedAt = usedAt
        self.requestID = requestID
    }
}
