// Wire shapes of GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

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
    public init(policy: String, policyName: String) {
        self.policy = policy
        self.policyName = policyName
    }
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
    public init(policyNames: [String], nextMarker: String? = nil, truncated: Bool) {
        self.policyNames = policyNames
        self.nextMarker = nextMarker
        self.truncated = truncated
    }
}
