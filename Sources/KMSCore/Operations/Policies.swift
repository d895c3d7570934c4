import KMSModel

/// Key policies are stored here; who they allow is decided by the access
/// control layer in front of the engine.
extension KMSEngine {
    public func getKeyPolicy(_ r: GetKeyPolicyRequest, caller: Principal) async throws -> GetKeyPolicyResponse {
        try Validate.policyName(r.policyName)
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .getKeyPolicy, caller: caller)
        return GetKeyPolicyResponse(policy: key.policy, policyName: "default")
    }

    public func putKeyPolicy(_ r: PutKeyPolicyRequest, caller: Principal) async throws -> EmptyResponse {
        try Validate.policyName(r.policyName)
        var key = try await authorizedKey(r.keyId, allowAlias: false, for: .putKeyPolicy, caller: caller)
        let policy = try checkedPolicy(r.policy, caller: caller, bypass: r.bypassPolicyLockoutSafetyCheck)
        try checkState(key, for: .putKeyPolicy)
        key.policy = policy
        try await store.update(key)
        return EmptyResponse()
    }

    public func listKeyPolicies(_ r: ListResourceTagsRequest, caller: Principal) async throws -> ListKeyPoliciesResponse {
        _ = try Validate.limit(r.limit)
        try Validate.marker(r.marker)
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .listKeyPolicies, caller: caller)
        try checkState(key, for: .listKeyPolicies)
        return ListKeyPoliciesResponse(policyNames: ["default"], nextMarker: nil, truncated: false)
    }
}
