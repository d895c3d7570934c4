import Foundation
import KMSModel
import Synchronization

/// Condition values a request offers to key policies (DESIGN.md §5).
struct RequestConditions {
    var values: [String: [String]] = [:]
    /// The request's encryption context, which grant constraints test.
    var encryptionContext: [String: String]?
    /// For CreateGrant: the grant asked for, which a grant allowing
    /// CreateGrant must cover (see `GrantRecord.covers`).
    var requestedGrant: GrantRecord?

    static func context(_ context: [String: String]?) -> RequestConditions {
        var c = RequestConditions()
        c.encryptionContext = context ?? [:]
        guard let context else { return c }
        for (k, v) in context { c.values["kms:EncryptionContext:\(k)"] = [v] }
        c.values["kms:EncryptionContextKeys"] = context.keys.sorted()
        return c
    }

    func with(_ key: String, _ value: String?) -> RequestConditions {
        guard let value else { return self }
        var c = self
        c.values[key] = [value]
        return c
    }
}

extension KMSEngine {
    /// Resolves a key and decides whether `caller` may perform `operation` on
    /// it, from the key's policy (and the admin override). Notes the key for
    /// the audit line either way.
    func authorizedKey(_ raw: String?, member: String = "KeyId", allowAlias: Bool = true, for operation: KMSOperation,
                       action: String? = nil, caller: Principal, facts: AuditFacts,
                       conditions: RequestConditions = RequestConditions()) async throws -> KeyRecord {
        let key = try await resolveKey(raw, member: member, allowAlias: allowAlias)
        var conditions = conditions
        if let raw, let alias = try? KeyIdentifier.parse(raw, arn: configuration.arn), case .aliasName(let name) = alias {
            conditions = conditions.with("kms:RequestAlias", name)
        }
        try authorize(operation, key: key, caller: caller, facts: facts, action: action, conditions: conditions)
        return key
    }

    func authorize(_ operation: KMSOperation, key: KeyRecord, caller: Principal, facts: AuditFacts, action: String? = nil,
                   conditions: RequestConditions = RequestConditions()) throws {
        try authorization(operation, key: key, caller: caller, facts: facts, action: action, conditions: conditions)
    }

    /// `authorize`, telling which grant allowed the request: nil when the
    /// key policy (or the admin override) did. The order is AWS's: a Deny
    /// statement wins over everything; then a policy Allow or a grant
    /// allows. `grantAllowing`, when given, is asked before the key's grants
    /// in general (RetireGrant: the grant being retired names who may).
    @discardableResult
    func authorization(_ operation: KMSOperation, key: KeyRecord, caller: Principal, facts: AuditFacts,
                       action: String? = nil, conditions: RequestConditions = RequestConditions(),
                       grantAllowing special: ((Principal) -> GrantRecord?)? = nil) throws -> GrantRecord? {
        facts.note(keyID: key.keyID)
        let access = configuration.accessControl
        if access.admins.contains(caller) && AccessControl.adminKeyOperations.contains(operation) { return nil }
        let action = action ?? "kms:" + operation.rawValue
        let policy = try parsedPolicy(key)
        let request = AuthorizationRequest(
            action: action, principal: caller,
            conditionValues: conditions.with("p11kms:CallerExecutable", caller.executable).values)
        switch policy.evaluate(request) {
        case .allow:
            return nil
        case .explicitDeny(let statement):
            throw KMSError(.accessDenied, "\(caller.summary) is denied \(action) on \(arn(key)) by statement \(statement) of its key policy.")
        case .implicitDeny:
            if let grant = try special?(caller) ?? grantAllowing(action, key: key, caller: caller, conditions: conditions) {
                facts.note(grantID: grant.grantID)
                return grant
            }
            throw KMSError(.accessDenied, "\(caller.summary) is not allowed \(action) on \(arn(key)): no statement of its key "
                           + "policy and no grant allows it.")
        }
    }

    func authorizeService(_ operation: KMSOperation, caller: Principal) throws {
        guard configuration.accessControl.allowsService(operation, caller) else {
            throw KMSError(.accessDenied, "\(caller.summary) may not call \(operation.rawValue): the daemon configuration "
                           + "does not list it among \(operation == .createKey ? "allow_create_key or " : "")admins.")
        }
    }

    /// Policies are parsed once per distinct document, not per request.
    func parsedPolicy(_ key: KeyRecord) throws -> KeyPolicy {
        if let cached = policyCache.withLock({ $0[key.policy] }) { return cached }
        let policy: KeyPolicy
        do {
            policy = try KeyPolicy.parse(key.policy)
        } catch {
            // A stored policy that no longer parses grants nothing.
            throw KMSError(.accessDenied, "The key policy of \(arn(key)) cannot be read, so it allows nothing; an admin can replace it.")
        }
        policyCache.withLock { cache in
            if cache.count >= 1024 { cache.removeAll() }
            cache[key.policy] = policy
        }
        return policy
    }
}
