import Foundation
import KMSModel

extension KMSEngine {
    /// Notes a successful request's use of its keys (KMSService calls this
    /// once the request's audit line is durable).
    public func recordUse(_ operation: KMSOperation, keyIDs: [String], requestID: String) {
        usage.record(operation, keyIDs: keyIDs, requestID: requestID, at: clock.now)
    }

    /// Writes the last uses recorded since the previous flush to the store,
    /// in one transaction. The daemon calls it every
    /// `KeyUsageTracker.flushInterval` and at shutdown.
    public func flushKeyUsage() async throws {
        try await usage.flush(to: store)
    }

    public static var keyUsageFlushInterval: Duration { KeyUsageTracker.flushInterval }

    /// The last successful cryptographic use of a key, from this process's
    /// memory and the store, whichever is later. `KmsRequestId` is the
    /// request id its audit line carries; there is no CloudTrail, so
    /// `CloudTrailEventId` is absent.
    public func getKeyLastUsage(_ r: GetKeyLastUsageRequest, caller: Principal,
                                facts: AuditFacts = AuditFacts()) async throws -> GetKeyLastUsageResponse {
        let keyId = try Validate.required(r.keyId, "KeyId")
        // An alias name and an alias ARN both parse to `.aliasName`.
        if case .aliasName? = try? KeyIdentifier.parse(keyId, arn: configuration.arn) {
            throw KMSError.notFound("GetKeyLastUsage takes a key ID or key ARN, not an alias (\(keyId.prefix(256))); "
                                    + "find the key's ID with DescribeKey or ListAliases.")
        }
        let key = try await authorizedKey(keyId, for: .getKeyLastUsage, caller: caller, facts: facts)
        let uses = try await store.usage(keyID: key.keyID) + usage.uses(keyID: key.keyID)
        let last = uses.max { $0.usedAt < $1.usedAt }
        let start = try await store.usageTrackingStart()
        return GetKeyLastUsageResponse(
            keyId: key.keyID,
            keyLastUsage: last.map { KeyLastUsageData(operation: $0.operation, timestamp: $0.usedAt, kmsRequestId: $0.requestID) },
            trackingStartDate: max(start, key.createdAt), keyCreationDate: key.createdAt)
    }
}
