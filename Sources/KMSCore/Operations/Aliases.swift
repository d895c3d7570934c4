import Foundation
import KMSModel

extension KMSEngine {
    public func createAlias(_ r: AliasRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let name = try Validate.aliasName(r.aliasName)
        let key = try await authorizedKey(r.targetKeyId, member: "TargetKeyId", allowAlias: false, for: .createAlias,
                                          caller: caller, facts: facts)
        try checkState(key, for: .createAlias)
        let now = clock.now
        try await withKeyLock(name) {
            guard try await store.alias(name: name) == nil else { throw KMSError(.alreadyExists, "Alias \(name) already exists.") }
            do {
                try await store.insert(AliasRecord(aliasName: name, targetKeyID: key.keyID, createdAt: now, lastUpdatedAt: now))
            } catch MetadataStoreError.alreadyExists {
                throw KMSError(.alreadyExists, "Alias \(name) already exists.")
            }
        }
        return EmptyResponse()
    }

    public func updateAlias(_ r: AliasRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let name = try Validate.aliasName(r.aliasName)
        // One change of the alias at a time, each on its current row.
        return try await withKeyLock(name) {
            guard var alias = try await store.alias(name: name) else { throw KMSError.notFound("Alias \(name) does not exist.") }
            // Moving an alias needs permission on both the key it leaves and the one it joins.
            _ = try await authorizedKey(alias.targetKeyID, allowAlias: false, for: .updateAlias, caller: caller, facts: facts)
            let key = try await authorizedKey(r.targetKeyId, member: "TargetKeyId", allowAlias: false, for: .updateAlias,
                                              caller: caller, facts: facts)
            try checkState(key, for: .updateAlias)
            // AWS lets an alias move only between keys of the same type and usage,
            // so that callers using it never get a key that cannot do their job.
            if let old = try await store.key(id: alias.targetKeyID),
               old.keySpec != key.keySpec || old.keyUsage != key.keyUsage {
                throw KMSError.validation("\(name) points at a \(old.keySpec.rawValue) \(old.keyUsage.rawValue) key; "
                                          + "it can only move to a key of the same KeySpec and KeyUsage.")
            }
            alias.targetKeyID = key.keyID
            alias.lastUpdatedAt = clock.now
            try await store.update(alias)
            return EmptyResponse()
        }
    }

    public func deleteAlias(_ r: AliasRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let name = try Validate.aliasName(r.aliasName)
        try await withKeyLock(name) {
            guard let alias = try await store.alias(name: name) else { throw KMSError.notFound("Alias \(name) does not exist.") }
            _ = try await authorizedKey(alias.targetKeyID, allowAlias: false, for: .deleteAlias, caller: caller, facts: facts)
            try await store.deleteAlias(name: name)
        }
        return EmptyResponse()
    }

    public func listAliases(_ r: ListAliasesRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ListAliasesResponse {
        try authorizeService(.listAliases, caller: caller)
        let limit = try Validate.limit(r.limit)
        try Validate.marker(r.marker)
        if let marker = r.marker, !marker.hasPrefix("alias/") {
            throw KMSError(.invalidMarker, "Marker is not one this service returned.")
        }
        var keyID: String?
        if let keyId = r.keyId { keyID = try await resolveKey(keyId, allowAlias: false).keyID }
        let page = try await store.aliases(keyID: keyID, after: r.marker, limit: limit + 1)
        let shown = page.prefix(limit)
        let truncated = page.count > limit
        return ListAliasesResponse(
            aliases: shown.map {
                AliasListEntry(aliasName: $0.aliasName, aliasArn: configuration.arn.aliasARN($0.aliasName),
                               targetKeyId: $0.targetKeyID, creationDate: $0.createdAt, lastUpdatedDate: $0.lastUpdatedAt)
            },
            nextMarker: truncated ? shown.last?.aliasName : nil, truncated: truncated)
    }
}
