import Foundation

// Wire shapes of EnableKeyRotation, GetKeyRotationStatus, ListKeyRotations.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct EnableKeyRotationRequest: Codable, Sendable {
    public var keyId: String?
    public var rotationPeriodInDays: Int?
    public init(keyId: String?, rotationPeriodInDays: Int? = nil) {
        self.keyId = keyId
        self.rotationPeriodInDays = rotationPeriodInDays
    }
}

public struct GetKeyRotationStatusResponse: Codable, Sendable {
    public var keyRotationEnabled: Bool
    public var keyId: String
    public var rotationPeriodInDays: Int?
    public var nextRotationDate: Date?
    public init(keyRotationEnabled: Bool, keyId: String, rotationPeriodInDays: Int? = nil,
                nextRotationDate: Date? = nil) {
        self.keyRotationEnabled = keyRotationEnabled
        self.keyId = keyId
        self.rotationPeriodInDays = rotationPeriodInDays
        self.nextRotationDate = nextRotationDate
    }
}

public struct ListKeyRotationsRequest: Codable, Sendable {
    public var keyId: String?
    public var includeKeyMaterial: String?
    public var limit: Int?
    public var marker: String?
    public init(keyId: String?, includeKeyMaterial: String? = nil, limit: Int? = nil, marker: String? = nil) {
        self.keyId = keyId
        self.includeKeyMaterial = includeKeyMaterial
        self.limit = limit
        self.marker = marker
    }
}

public struct RotationsListEntry: Codable, Sendable, Hashable {
    public var keyId: String
    public var keyMaterialId: String
    public var keyMaterialState: String
    public var rotationDate: Date
    public var rotationType: RotationType?
    public init(keyId: String, keyMaterialId: String, keyMaterialState: String, rotationDate: Date,
                rotationType: RotationType? = nil) {
        self.keyId = keyId
        self.keyMaterialId = keyMaterialId
        self.keyMaterialState = keyMaterialState
        self.rotationDate = rotationDate
        self.rotationType = rotationType
    }
}

public struct ListKeyRotationsResponse: Codable, Sendable {
    public var rotations: [RotationsListEntry]
    public var nextMarker: String?
    public var truncated: Bool
    public init(rotations: [RotationsListEntry], nextMarker: String? = nil, truncated: Bool) {
        self.rotations = rotations
        self.nextMarker = nextMarker
        self.truncated = truncated
    }
}
