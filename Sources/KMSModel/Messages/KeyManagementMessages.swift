import Foundation

// Wire shapes of CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, Enable/DisableKey,
// Schedule/CancelKeyDeletion.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct CreateKeyRequest: Codable, Sendable {
    public var policy: String?
    public var description: String?
    public var keyUsage: KeyUsageType?
    public var customerMasterKeySpec: KeySpec?
    public var keySpec: KeySpec?
    public var origin: Origin?
    public var customKeyStoreId: String?
    public var bypassPolicyLockoutSafetyCheck: Bool?
    public var tags: [Tag]?
    public var multiRegion: Bool?
    public var xksKeyId: String?

    public init(policy: String? = nil, description: String? = nil, keyUsage: KeyUsageType? = nil, keySpec: KeySpec? = nil,
                origin: Origin? = nil, tags: [Tag]? = nil) {
        self.policy = policy
        self.description = description
        self.keyUsage = keyUsage
        self.keySpec = keySpec
        self.origin = origin
        self.tags = tags
    }
}

public struct CreateKeyResponse: Codable, Sendable {
    public var keyMetadata: KeyMetadata
    public init(keyMetadata: KeyMetadata) {
        self.keyMetadata = keyMetadata
    }
}

public struct KeyIdRequest: Codable, Sendable {
    public var keyId: String?
    public var grantTokens: [String]?
    public init(keyId: String?) { self.keyId = keyId }
}

public struct DescribeKeyResponse: Codable, Sendable {
    public var keyMetadata: KeyMetadata
    public init(keyMetadata: KeyMetadata) {
        self.keyMetadata = keyMetadata
    }
}

public struct ListKeysRequest: Codable, Sendable {
    public var limit: Int?
    public var marker: String?
    public init(limit: Int? = nil, marker: String? = nil) {
        self.limit = limit
        self.marker = marker
    }
}

public struct KeyListEntry: Codable, Sendable, Hashable {
    public var keyId: String
    public var keyArn: String
    public init(keyId: String, keyArn: String) {
        self.keyId = keyId
        self.keyArn = keyArn
    }
}

public struct ListKeysResponse: Codable, Sendable {
    public var keys: [KeyListEntry]
    public var nextMarker: String?
    public var truncated: Bool
    public init(keys: [KeyListEntry], nextMarker: String? = nil, truncated: Bool) {
        self.keys = keys
        self.nextMarker = nextMarker
        self.truncated = truncated
    }
}

public struct UpdateKeyDescriptionRequest: Codable, Sendable {
    public var keyId: String?
    public var description: String?
    public init(keyId: String?, description: String?) {
        self.keyId = keyId
        self.description = description
    }
}

public struct ScheduleKeyDeletionRequest: Codable, Sendable {
    public var keyId: String?
    public var pendingWindowInDays: Int?
    public init(keyId: String?, pendingWindowInDays: Int? = nil) {
        self.keyId = keyId
        self.pendingWindowInDays = pendingWindowInDays
    }
}

public struct ScheduleKeyDeletionResponse: Codable, Sendable {
    public var keyId: String
    public var deletionDate: Date
    public var keyState: KeyState
    public var pendingWindowInDays: Int
    public init(keyId: String, deletionDate: Date, keyState: KeyState, pendingWindowInDays: Int) {
        self.keyId = keyId
        self.deletionDate = deletionDate
        self.keyState = keyState
        self.pendingWindowInDays = pendingWindowInDays
    }
}

public struct KeyIdResponse: Codable, Sendable {
    public var keyId: String
    public init(keyId: String) {
        self.keyId = keyId
    }
}

/// An operation whose success has no body (`{}` on the wire).
public struct EmptyResponse: Codable, Sendable, Equatable { public init() {} }
