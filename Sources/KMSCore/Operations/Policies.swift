import KMSModel

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
