import Foundation

// Wire shapes of GenerateDataKey(WithoutPlaintext), GenerateDataKeyPair(WithoutPlaintext).
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct GenerateDataKeyRequest: Codable, Sendable {
    public var keyId: String?
    public var encryptionContext: [String: String]?
    public var numberOfBytes: Int?
    public var keySpec: DataKeySpec?
    public var grantTokens: [String]?
    public var dryRun: Bool?
    public init(keyId: String?, keySpec: DataKeySpec? = nil, numberOfBytes: Int? = nil,
                encryptionContext: [String: String]? = nil) {
        self.keyId = keyId
        self.keySpec = keySpec
        self.numberOfBytes = numberOfBytes
        self.encryptionContext = encryptionContext
    }
}

public struct GenerateDataKeyResponse: Codable, Sendable {
    public var ciphertextBlob: Data
    /// Nil for GenerateDataKeyWithoutPlaintext.
    public var plaintext: Data?
    public var keyId: String
    public var keyMaterialId: String?
    public init(ciphertextBlob: Data, plaintext: Data? = nil, keyId: String, keyMaterialId: String? = nil) {
        self.ciphertextBlob = ciphertextBlob
        self.plaintext = plaintext
        self.keyId = keyId
        self.keyMaterialId = keyMaterialId
    }
}

public struct GenerateDataKeyPairRequest: Codable, Sendable {
    public var encryptionContext: [String: String]?
    public var keyId: String?
    public var keyPairSpec: DataKeyPairSpec?
    public var grantTokens: [String]?
    public var dryRun: Bool?
    public init(keyId: String?, keyPairSpec: DataKeyPairSpec?, encryptionContext: [String: String]? = nil) {
        self.keyId = keyId
        self.keyPairSpec = keyPairSpec
        self.encryptionContext = encryptionContext
    }
}

public struct GenerateDataKeyPairResponse: Codable, Sendable {
    public var privateKeyCiphertextBlob: Data
    /// Nil for GenerateDataKeyPairWithoutPlaintext.
    public var privateKeyPlaintext: Data?
    public var publicKey: Data
    public var keyId: String
    public var keyPairSpec: DataKeyPairSpec
    public init(privateKeyCiphertextBlob: Data, privateKeyPlaintext: Data? = nil, publicKey: Data, keyId: String,
                keyPairSpec: DataKeyPairSpec) {
        self.privateKeyCiphertextBlob = privateKeyCiphertextBlob
        self.privateKeyPlaintext = privateKeyPlaintext
        self.publicKey = publicKey
        self.keyId = keyId
        self.keyPairSpec = keyPairSpec
    }
}
