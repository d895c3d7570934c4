import Foundation

// Wire shapes of CreateGrant, ListGrants, ListRetirableGrants, RetireGrant
// and RevokeGrant. Members are AWS's names in lowerCamel; AWSJSONCodec maps
// them to the wire.

/// `EncryptionContextSubset` / `EncryptionContextEquals`: the request's
/// encryption context must include, or be exactly, these pairs.
public struct GrantConstraints: Codable, Sendable, Hashable {
    public var encryptionContextSubset: [String: String]?
    public var encryptionContextEquals: [String: String]?
    public init(encryptionContextSubset: [String: String]? = nil, encryptionContextEquals: [String: String]? = nil) {
        self.encryptionContextSubset = encryptionContextSubset
        self.encryptionContextEquals = encryptionContextEquals
    }
}

public struct CreateGrantRequest: Codable, Sendable {
    public var keyId: String?
    public var granteePrincipal: String?
    public var retiringPrincipal: String?
    public var operations: [GrantOperation]?
    public var constraints: GrantConstraints?
    public var grantTokens: [String]?
    public var name: String?
    public var dryRun: Bool?
    public init(keyId: String?, granteePrincipal: String?, operations: [GrantOperation]?, retiringPrincipal: String? = nil,
                constraints: GrantConstraints? = nil, grantTokens: [String]? = nil, name: String? = nil, dryRun: Bool? = nil) {
        self.keyId = keyId
        self.granteePrincipal = granteePrincipal
        self.retiringPrincipal = retiringPrincipal
        self.operations = operations
        self.constraints = constraints
        self.grantTokens = grantTokens
        self.name = name
        self.dryRun = dryRun
    }
}

public struct CreateGrantResponse: Codable, Sendable {
    public var grantToken: String
    public var grantId: String
    public init(grantToken: String, grantId: String) {
        self.grantToken = grantToken
        self.grantId = grantId
    }
}

public struct ListGrantsRequest: Codable, Sendable {
    public var limit: Int?
    public var marker: String?
    public var keyId: String?
    public var grantId: String?
    public var granteePrincipal: String?
    public init(keyId: String?, limit: Int? = nil, marker: String? = nil, grantId: String? = nil, granteePrincipal: String? = nil) {
        self.keyId = keyId
        self.limit = limit
        self.marker = marker
        self.grantId = grantId
        self.granteePrincipal = granteePrincipal
    }
}

public struct ListRetirableGrantsRequest: Codable, Sendable {
    public var limit: Int?
    public var marker: String?
    public var retiringPrincipal: String?
    public init(retiringPrincipal: String?, limit: Int? = nil, marker: String? = nil) {
        self.retiringPrincipal = retiringPrincipal
        self.limit = limit
        self.marker = marker
    }
}

public struct GrantListEntry: Codable, Sendable, Hashable {
    public var keyId: String
    public var grantId: String
    public var name: String?
    public var creationDate: Date
    public var granteePrincipal: String
    public var retiringPrincipal: String?
    public var issuingAccount: String
    public var operations: [GrantOperation]
    public var constraints: GrantConstraints?
    public init(keyId: String, grantId: String, name: String?, creationDate: Date, granteePrincipal: String,
                retiringPrincipal: String?, issuingAccount: String, operations: [GrantOperation], constraints: GrantConstraints?) {
        self.keyId = keyId
        self.grantId = grantId
        self.name = name
        self.creationDate = creationDate
        self.granteePrincipal = granteePrincipal
        self.retiringPrincipal = retiringPrincipal
        self.issuingAccount = issuingAccount
        self.operations = operations
        self.constraints = constraints
    }
}

public struct ListGrantsResponse: Codable, Sendable {
    public var grants: [GrantListEntry]
    public var nextMarker: String?
    public var truncated: Bool
    public init(grants: [GrantListEntry], nextMarker: String? = nil, truncated: Bool) {
        self.grants = grants
        self.nextMarker = nextMarker
        self.truncated = truncated
    }
}

/// RetireGrant names the grant by its token, or by key and grant id.
public struct RetireGrantRequest: Codable, Sendable {
    public var grantToken: String?
    public var keyId: String?
    public var grantId: String?
    public var dryRun: Bool?
    public init(grantToken: String? = nil, keyId: String? = nil, grantId: String? = nil, dryRun: Bool? = nil) {
        self.grantToken = grantToken
        self.keyId = keyId
        self.grantId = grantId
        self.dryRun = dryRun
    }
}

public struct RevokeGrantRequest: Codable, Sendable {
    public var keyId: String?
    public var grantId: String?
    public var dryRun: Bool?
    public init(keyId: String?, grantId: String?, dryRun: Bool? = nil) {
        self.keyId = keyId
        self.grantId = grantId
        self.dryRun = dryRun
    }
}
