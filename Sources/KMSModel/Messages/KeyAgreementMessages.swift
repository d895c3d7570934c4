import Foundation

// Wire shapes of DeriveSharedSecret and GetKeyLastUsage.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

/// `RecipientInfo`: a Nitro enclave's attestation document. Decoded so that
/// a request naming one is refused plainly rather than ignored.
public struct RecipientInfo: Codable, Sendable {
    public var keyEncryptionAlgorithm: String?
    public var attestationDocument: Data?
    public init(keyEncryptionAlgorithm: String? = nil, attestationDocument: Data? = nil) {
        self.keyEncryptionAlgorithm = keyEncryptionAlgorithm
        self.attestationDocument = attestationDocument
    }
}

public struct DeriveSharedSecretRequest: Codable, Sendable {
    public var keyId: String?
    public var keyAgreementAlgorithm: KeyAgreementAlgorithm?
    /// The peer's public key: DER SubjectPublicKeyInfo (RFC 5280).
    public var publicKey: Data?
    public var grantTokens: [String]?
    public var dryRun: Bool?
    public var recipient: RecipientInfo?
    public init(keyId: String?, keyAgreementAlgorithm: KeyAgreementAlgorithm? = .ecdh, publicKey: Data?) {
        self.keyId = keyId
        self.keyAgreementAlgorithm = keyAgreementAlgorithm
        self.publicKey = publicKey
    }
}

public struct DeriveSharedSecretResponse: Codable, Sendable {
    public var keyId: String
    /// The raw ECDH secret: the x coordinate of the shared point, the
    /// curve's field size long (32, 48 or 66 bytes).
    public var sharedSecret: Data
    public var keyAgreementAlgorithm: KeyAgreementAlgorithm
    public var keyOrigin: Origin
    public init(keyId: String, sharedSecret: Data, keyAgreementAlgorithm: KeyAgreementAlgorithm, keyOrigin: Origin) {
        self.keyId = keyId
        self.sharedSecret = sharedSecret
        self.keyAgreementAlgorithm = keyAgreementAlgorithm
        self.keyOrigin = keyOrigin
    }
}

public struct GetKeyLastUsageRequest: Codable, Sendable {
    public var keyId: String?
    public init(keyId: String?) { self.keyId = keyId }
}

/// `KeyLastUsageData`: the last successful cryptographic operation.
public struct KeyLastUsageData: Codable, Sendable, Hashable {
    /// A `KeyLastUsageTrackingOperation` value (`Encrypt`, `Sign`, …).
    public var operation: String?
    public var timestamp: Date?
    /// Absent: there is no CloudTrail. `kmsRequestId` finds the audit line.
    public var cloudTrailEventId: String?
    /// The request id, which the use's audit line carries too.
    public var kmsRequestId: String?
    public init(operation: String? = nil, timestamp: Date? = nil, cloudTrailEventId: String? = nil, kmsRequestId: String? = nil) {
        self.operation = operation
        self.timestamp = timestamp
        self.cloudTrailEventId = cloudTrailEventId
        self.kmsRequestId = kmsRequestId
    }
}

public struct GetKeyLastUsageResponse: Codable, Sendable {
    public var keyId: String
    public var keyLastUsage: KeyLastUsageData?
    public var trackingStartDate: Date
    public var keyCreationDate: Date
    public init(keyId: String, keyLastUsage: KeyLastUsageData?, trackingStartDate: Date, keyCreationDate: Date) {
        self.keyId = keyId
        self.keyLastUsage = keyLastUsage
        self.trackingStartDate = trackingStartDate
        self.keyCreationDate = keyCreationDate
    }
}
