import Foundation

// Wire shapes of GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct GetParametersForImportRequest: Codable, Sendable {
    public var keyId: String?
    public var wrappingAlgorithm: WrappingAlgorithm?
    public var wrappingKeySpec: WrappingKeySpec?
    public init(keyId: String?, wrappingAlgorithm: WrappingAlgorithm?, wrappingKeySpec: WrappingKeySpec?) {
        self.keyId = keyId
        self.wrappingAlgorithm = wrappingAlgorithm
        self.wrappingKeySpec = wrappingKeySpec
    }
}

public struct GetParametersForImportResponse: Codable, Sendable {
    public var keyId: String
    public var importToken: Data
    public var publicKey: Data
    public var parametersValidTo: Date
    public init(keyId: String, importToken: Data, publicKey: Data, parametersValidTo: Date) {
        self.keyId = keyId
        self.importToken = importToken
        self.publicKey = publicKey
        self.parametersValidTo = parametersValidTo
    }
}

public struct ImportKeyMaterialRequest: Codable, Sendable {
    public var keyId: String?
    public var importToken: Data?
    public var encryptedKeyMaterial: Data?
    public var validTo: Date?
    public var expirationModel: ExpirationModel?
    public init(keyId: String?, importToken: Data?, encryptedKeyMaterial: Data?, validTo: Date? = nil,
                expirationModel: ExpirationModel? = nil) {
        self.keyId = keyId
        self.importToken = importToken
        self.encryptedKeyMaterial = encryptedKeyMaterial
        self.validTo = validTo
        self.expirationModel = expirationModel
    }
}

public struct ImportKeyMaterialResponse: Codable, Sendable {
    public var keyId: String
    public var keyMaterialId: String
    public init(keyId: String, keyMaterialId: String) {
        self.keyId = keyId
        self.keyMaterialId = keyMaterialId
    }
}

public struct DeleteImportedKeyMaterialResponse: Codable, Sendable {
    public var keyId: String
    public var keyMaterialId: String?
    public init(keyId: String, keyMaterialId: String? = nil) {
        self.keyId = keyId
        self.keyMaterialId = keyMaterialId
    }
}
