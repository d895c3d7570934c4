import Foundation

// Wire shapes of CreateAlias, UpdateAlias, DeleteAlias, ListAliases.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct AliasRequest: Codable, Sendable {
    public var aliasName: String?
    public var targetKeyId: String?
    public init(aliasName: String?, targetKeyId: String? = nil) {
        self.aliasName = aliasName
        self.targetKeyId = targetKeyId
    }
}

public struct ListAliasesRequest: Codable, Sendable {
    public var keyId: String?
    public var limit: Int?
    public var marker: String?
    public init(keyId: String? = nil, limit: Int? = nil, marker: String? = nil) {
        self.keyId = keyId
        self.limit = limit
        self.marker = marker
    }
}

public struct AliasListEntry: Codable, Sendable, Hashable {
    public var aliasName: String
    public var aliasArn: String
    public var targetKeyId: String?
    public var creationDate: Date
    public var lastUpdatedDate: Date
    public init(aliasName: String, aliasArn: String, targetKeyId: String? = nil, creationDate: Date,
                lastUpdatedDate: Date) {
        self.aliasName = aliasName
        self.aliasArn = aliasArn
        self.targetKeyId = targetKeyId
        self.creationDate = creationDate
        self.lastUpdatedDate = lastUpdatedDate
    }
}

public struct ListAliasesResponse: Codable, Sendable {
    public var aliases: [AliasListEntry]
    public var nextMarker: String?
    public var truncated: Bool
    public init(aliases: [AliasListEntry], nextMarker: String? = nil, truncated: Bool) {
        self.aliases = aliases
        self.nextMarker = nextMarker
        self.truncated = truncated
    }
}
