public struct GetKeyPolicyRequest: Codable, Sendable {
    public var keyId: String?
    public var policyName: String?
    public init(keyId: String?, policyName: String? = nil) {
        self.keyId = keyId
        self.policyName = policyName
    }
}

public struct GetKeyPolicyResponse: Codable, Sendable {
    public var policy: String
    public var policyName: String
}

public struct PutKeyPolicyRequest: Codable, Sendable {
    public var keyId: String?
    public var policyName: String?
    public var policy: String?
    public var bypassPolicyLockoutSafetyCheck: Bool?
    public init(keyId: String?, policy: String?, policyName: String? = nil, bypassPolicyLockoutSafetyCheck: Bool? = nil) {
        self.keyId = keyId
        self.policy = policy
        self.policyName = policyName
        self.bypassPolicyLockoutSafetyCheck = bypassPolicyLockoutSafetyCheck
    }
}

public struct ListKeyPoliciesResponse: Codable, Sendable {
    public var policyNames: [String]
    public var nextMarker: String?
    public var truncated: Bool
}

/// Key policies are stored here; who they allow is decided by the access
/// control layer in front of the engine.
extension KMSEngine {
    public func getKeyPolicy(_ r: GetKeyPolicyRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GetKeyPolicyResponse {
        try Validate.policyName(r.policyName)
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .getKeyPolicy, caller: caller, facts: facts)
        return GetKeyPolicyResponse(policy: key.policy, policyName: "default")
    }

    public func putKeyPolicy(_ r: PutKeyPolicyRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try Validate.policyName(r.policyName)
        let policy = try checkedPolicy(r.policy, caller: caller, bypass: r.bypassPolicyLockoutSafetyCheck)
        try await changeAuthorizedKey(r.keyId, for: .putKeyPolicy, caller: caller, facts: facts) { key in
            try checkState(key, for: .putKeyPolicy)
            key.policy = policy
        }
        return EmptyResponse()
    }

    public func listKeyPolicies(_ r: ListResourceTagsRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ListKeyPoliciesResponse {
        _ = try Validate.limit(r.limit)
        try Validate.marker(r.marker)
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .listKeyPolicies, caller: caller, facts: facts)
        try checkState(key, for: .listKeyPolicies)
        return ListKeyPoliciesResponse(policyNames: ["default"], nextMarker: nil, truncated: false)
    }
}
