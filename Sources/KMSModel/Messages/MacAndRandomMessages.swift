import Foundation

// Wire shapes of GenerateMac, VerifyMac, GenerateRandom.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct GenerateMacRequest: Codable, Sendable {
    public var message: Data?
    public var keyId: String?
    public var macAlgorithm: MacAlgorithm?
    public var grantTokens: [String]?
    public var dryRun: Bool?
    public init(keyId: String?, message: Data?, macAlgorithm: MacAlgorithm?) {
        self.keyId = keyId
        self.message = message
        self.macAlgorithm = macAlgorithm
    }
}

public struct GenerateMacResponse: Codable, Sendable {
    public var mac: Data
    public var macAlgorithm: MacAlgorithm
    public var keyId: String
    public init(mac: Data, macAlgorithm: MacAlgorithm, keyId: String) {
        self.mac = mac
        self.macAlgorithm = macAlgorithm
        self.keyId = keyId
    }
}

public struct VerifyMacRequest: Codable, Sendable {
    public var message: Data?
    public var keyId: String?
    public var macAlgorithm: MacAlgorithm?
    public var mac: Data?
    public var grantTokens: [String]?
    public var dryRun: Bool?
    public init(keyId: String?, message: Data?, macAlgorithm: MacAlgorithm?, mac: Data?) {
        self.keyId = keyId
        self.message = message
        self.macAlgorithm = macAlgorithm
        self.mac = mac
    }
}

public struct VerifyMacResponse: Codable, Sendable {
    public var keyId: String
    public var macValid: Bool
    public var macAlgorithm: MacAlgorithm
    public init(keyId: String, macValid: Bool, macAlgorithm: MacAlgorithm) {
        self.keyId = keyId
        self.macValid = macValid
        self.macAlgorithm = macAlgorithm
    }
}

public struct GenerateRandomRequest: Codable, Sendable {
    public var numberOfBytes: Int?
    public var customKeyStoreId: String?
    public init(numberOfBytes: Int?, customKeyStoreId: String? = nil) {
        self.numberOfBytes = numberOfBytes
        self.customKeyStoreId = customKeyStoreId
    }
}

public struct GenerateRandomResponse: Codable, Sendable {
    public var plaintext: Data
    public init(plaintext: Data) {
        self.plaintext = plaintext
    }
}
