import Foundation
import KMSModel

/// CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.
/// A grant lets its grantee perform some operations on one key without an
/// edit of the key policy; `GrantEvaluation.swift` decides when it applies.
extension KMSEngine {
    /// Grants one key may hold: AWS allows 50,000; every request on the key
    /// scans them, so this service holds fewer.
    static let maximumGrantsPerKey = 10_000

    public func createGrant(_ r: CreateGrantRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> CreateGrantResponse {
        try Validate.grantTokens(r.grantTokens)
        let grantee = try GrantPrincipal(parsing: Validate.required(r.granteePrincipal, "GranteePrincipal"), member: "GranteePrincipal")
        let retiring = try r.retiringPrincipal.map { try GrantPrincipal(parsing: $0, member: "RetiringPrincipal") }
        try GrantRules.validName(r.name)
        let resolved = try await resolveKey(r.keyId, allowAlias: false)
        facts.note(keyID: resolved.keyID)
        let operations = try GrantRules.validOperations(r.operations, for: resolved, arn: arn(resolved))
        let constraints = try GrantRules.validConstraints(r.constraints, for: resolved)
        var requested = GrantRecord(grantID: GrantToken.newGrantID(), keyID: resolved.keyID, name: r.name,
                                    granteePrincipal: grantee.text, retiringPrincipal: retiring?.text,
                                    operations: operations, constraints: constraints, createdAt: clock.now)
        var conditions = RequestConditions().with("kms:GranteePrincipal", grantee.text)
            .with("kms:RetiringPrincipal", retiring?.text)
        conditions.values["kms:GrantOperations"] = operations.map(\.rawValue)
        conditions.requestedGrant = requested
        try authorization(.createGrant, key: resolved, caller: caller, facts: facts, conditions: conditions)
        try checkState(resolved, for: .createGrant)
        try dryRun(r.dryRun)
        // Under the key's lock, against its current policy: a grant is never
        // added to a key being deleted or by a permission just withdrawn.
        let grantID: String = try await withKeyLock(resolved.keyID) {
            guard let key = try await store.key(id: resolved.keyID) else { throw KMSError.notFound("Key '\(resolved.keyID)' does not exist.") }
            try authorization(.createGrant, key: key, caller: caller, facts: facts, conditions: conditions)
            try checkState(key, for: .createGrant)
            let existing = try store.grantsNow(keyID: key.keyID)
            // A retried CreateGrant with the same Name and parameters gets the same grant.
            if r.name != nil, let same = existing.first(where: { $0.isSameGrant(as: requested) }) {
                return same.grantID
            }
            guard existing.count < Self.maximumGrantsPerKey else {
                throw KMSError(.limitExceeded, "\(arn(key)) holds \(existing.count) grants, the most a key may; retire or revoke some.")
            }
            requested.createdAt = clock.now
            do {
                try await store.insert(requested)
            } catch MetadataStoreError.notFound {
                throw KMSError.notFound("Key '\(key.keyID)' does not exist.")
            }
            return requested.grantID
        }
        facts.note(grantID: grantID)
        return CreateGrantResponse(grantToken: GrantToken.make(grantID: grantID), grantId: grantID)
    }

    public func listGrants(_ r: ListGrantsRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ListGrantsResponse {
        let limit = try Self.grantLimit(r.limit)
        try Self.grantMarker(r.marker)
        if let id = r.grantId { try Validate.length(id, "GrantId", max: 128) }
        let grantee = try r.granteePrincipal.map { try GrantPrincipal(parsing: $0, member: "GranteePrincipal").text }
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .listGrants, caller: caller, facts: facts)
        let grants = try store.grantsNow(keyID: key.keyID).filter {
            (r.grantId == nil || $0.grantID == r.grantId) && (grantee == nil || $0.granteePrincipal == grantee)
        }
        return page(grants, after: r.marker, limit: limit)
    }

    /// The grants `RetiringPrincipal` may retire, on every key. A caller may
    /// list its own (a principal it matches); admins anyone's.
    public func listRetirableGrants(_ r: ListRetirableGrantsRequest, caller: Principal,
                                    facts: AuditFacts = AuditFacts()) async throws -> ListGrantsResponse {
        let retiring = try GrantPrincipal(parsing: Validate.required(r.retiringPrincipal, "RetiringPrincipal"),
                                          member: "RetiringPrincipal")
        let limit = try Self.grantLimit(r.limit)
        try Self.grantMarker(r.marker)
        guard retiring.matches(caller) || configuration.accessControl.admins.contains(caller) else {
            throw KMSError(.accessDenied, "\(caller.summary) may list only the grants it may retire itself, not those of "
                           + "\(retiring.text); admins may list anyone's.")
        }
        return page(store.grants(retiringPrincipal: retiring.text), after: r.marker, limit: limit)
    }

    /// Retires a grant named by its token, or by key and grant id. Allowed to
    /// the grant's retiring principal, to its grantee if it allows
    /// RetireGrant, and to whoever the key policy allows kms:RetireGrant;
    /// a Deny in the key policy wins over the first two as well.
    public func retireGrant(_ r: RetireGrantRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        var grantID = r.grantId
        if let token = r.grantToken {
            try Validate.length(token, "GrantToken", max: 8192)
            guard let named = GrantToken.grantID(in: token) else {
                throw KMSError(.invalidGrantToken, "GrantToken is not one CreateGrant of this service returned.")
            }
            if let grantID, grantID != named {
                throw KMSError.validation("GrantToken and GrantId name different grants; give one of them.")
            }
            grantID = named
        } else if r.grantId == nil || r.keyId == nil {
            throw KMSError.validation("RetireGrant needs GrantToken, or both KeyId and GrantId.")
        }
        let id = try Self.validGrantID(grantID!)
        var keyID = store.grant(id: id)?.keyID
        if let keyId = r.keyId {
            let key = try await resolveKey(keyId, allowAlias: false)
            guard keyID == nil || keyID == key.keyID else { throw Self.noSuchGrant(id, on: arn(key)) }
            keyID = key.keyID
        }
        guard let keyID else { throw KMSError.notFound("Grant \(id) does not exist (it may have been retired or revoked).") }
        try await withKeyLock(keyID) {
            guard let key = try await store.key(id: keyID) else { throw KMSError.notFound("Key '\(keyID)' does not exist.") }
            guard let grant = try store.grantsNow(keyID: keyID).first(where: { $0.grantID == id }) else {
                facts.note(keyID: keyID)
                throw Self.noSuchGrant(id, on: arn(key))
            }
            facts.note(grantID: id)
            try authorization(.retireGrant, key: key, caller: caller, facts: facts) { caller in
                let byRetiring = grant.retiring?.matches(caller) == true
                let byGrantee = grant.operations.contains(.retireGrant) && grant.grantee?.matches(caller) == true
                return byRetiring || byGrantee ? grant : nil
            }
            try dryRun(r.dryRun)
            try await store.deleteGrant(id: id)
        }
        return EmptyResponse()
    }

    public func revokeGrant(_ r: RevokeGrantRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let id = try Self.validGrantID(Validate.required(r.grantId, "GrantId"))
        let resolved = try await authorizedKey(r.keyId, allowAlias: false, for: .revokeGrant, caller: caller, facts: facts)
        try await withKeyLock(resolved.keyID) {
            guard let key = try await store.key(id: resolved.keyID) else { throw KMSError.notFound("Key '\(resolved.keyID)' does not exist.") }
            try authorize(.revokeGrant, key: key, caller: caller, facts: facts)
            guard try store.grantsNow(keyID: key.keyID).contains(where: { $0.grantID == id }) else {
                throw Self.noSuchGrant(id, on: arn(key))
            }
            facts.note(grantID: id)
            try dryRun(r.dryRun)
            try await store.deleteGrant(id: id)
        }
        return EmptyResponse()
    }

    // MARK: Pieces

    private func page(_ grants: [GrantRecord], after marker: String?, limit: Int) -> ListGrantsResponse {
        // Grants come in grant id order; the marker is the last id shown.
        let rest = marker.map { m in grants.filter { m.utf8.lexicographicallyPrecedes($0.grantID.utf8) } } ?? grants
        let shown = rest.prefix(limit)
        let truncated = rest.count > limit
        return ListGrantsResponse(grants: shown.map(entry), nextMarker: truncated ? shown.last?.grantID : nil, truncated: truncated)
    }

    private func entry(_ g: GrantRecord) -> GrantListEntry {
        GrantListEntry(keyId: arn(g.keyID), grantId: g.grantID, name: g.name, creationDate: g.createdAt,
                       granteePrincipal: g.granteePrincipal, retiringPrincipal: g.retiringPrincipal,
                       issuingAccount: "arn:\(configuration.arn.partition):iam::\(configuration.arn.account):root",
                       operations: g.operations, constraints: g.constraints)
    }

    private func arn(_ keyID: String) -> String { configuration.arn.keyARN(keyID) }

    /// `Limit` of the grant listings: 1 to 100, default 50 (the model's documentation).
    private static func grantLimit(_ value: Int?) throws -> Int {
        guard let value else { return 50 }
        try Validate.range(value, "Limit", 1...100)
        return value
    }

    private static func grantMarker(_ marker: String?) throws {
        try Validate.marker(marker)
        if let marker, !GrantToken.isGrantID(marker) {
            throw KMSError(.invalidMarker, "Marker is not one this service returned.")
        }
    }

    private static func validGrantID(_ id: String) throws -> String {
        try Validate.length(id, "GrantId", max: 128)
        guard GrantToken.isGrantID(id) else {
            throw KMSError(.invalidGrantId, "GrantId '\(id.prefix(128))' is not a grant id of this service (64 hex characters).")
        }
        return id
    }

    private static func noSuchGrant(_ id: String, on key: String) -> KMSError {
        KMSError.notFound("\(key) has no grant \(id) (it may have been retired or revoked).")
    }
}

extension GrantRecord {
    /// Same key, name, principals, operations and constraints: what makes a
    /// named CreateGrant a retry rather than a new grant.
    func isSameGrant(as other: GrantRecord) -> Bool {
        keyID == other.keyID && name == other.name && granteePrincipal == other.granteePrincipal
            && retiringPrincipal == other.retiringPrincipal && Set(operations) == Set(other.operations)
            && constraints == other.constraints
    }
}
