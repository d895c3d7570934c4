import Foundation
import KMSModel

/// A key's metadata as the store keeps it. Material lives in versions.
public struct KeyRecord: Sendable, Hashable, Codable {
    public var keyID: String
    public var createdAt: Date
    public var description: String
    public var keySpec: KeySpec
    public var keyUsage: KeyUsageType
    public var origin: Origin
    public var state: KeyState
    /// The key policy document (JSON), stored verbatim.
    public var policy: String
    public var tags: [Tag]
    /// Set while `state == .pendingDeletion`.
    public var deletionDate: Date?
    public var pendingWindowInDays: Int?
    public var rotationEnabled: Bool
    public var rotationPeriodInDays: Int?
    public var nextRotationDate: Date?
    /// Imported material: when it expires, and the model chosen at import.
    public var validTo: Date?
    public var expirationModel: ExpirationModel?
    /// Key check value of imported material, to accept only the same material again.
    public var importedMaterialCheck: [UInt8]?
    /// The newest version; nil while no material exists (pending import).
    public var currentVersion: UInt32?
    /// The custom key store (an extra token) holding the key's material; nil: the daemon's own token.
    public var customKeyStoreID: String?
    /// HMAC made in the HSM over the row (see `MetadataSeal`); nil until sealed.
    public var seal: [UInt8]?

    public init(keyID: String, createdAt: Date, description: String, keySpec: KeySpec, keyUsage: KeyUsageType,
                origin: Origin, state: KeyState, policy: String, tags: [Tag] = [], deletionDate: Date? = nil,
                pendingWindowInDays: Int? = nil, rotationEnabled: Bool = false, rotationPeriodInDays: Int? = nil,
                nextRotationDate: Date? = nil, validTo: Date? = nil, expirationModel: ExpirationModel? = nil,
                importedMaterialCheck: [UInt8]? = nil, currentVersion: UInt32? = nil, seal: [UInt8]? = nil) {
        self.keyID = keyID
        self.createdAt = createdAt
        self.description = description
        self.keySpec = keySpec
        self.keyUsage = keyUsage
        self.origin = origin
        self.state = state
        self.policy = policy
        self.tags = tags
        self.deletionDate = deletionDate
        self.pendingWindowInDays = pendingWindowInDays
        self.rotationEnabled = rotationEnabled
        self.rotationPeriodInDays = rotationPeriodInDays
        self.nextRotationDate = nextRotationDate
        self.validTo = validTo
        self.expirationModel = expirationModel
        self.importedMaterialCheck = importedMaterialCheck
        self.currentVersion = currentVersion
        self.seal = seal
    }
}

/// One version of a key's material.
public struct VersionRecord: Sendable, Hashable, Codable {
    public var keyID: String
    /// From 1; the newest is the key's current version.
    public var version: UInt32
    public var createdAt: Date
    /// Nil for the first version; how later versions came to be.
    public var rotationType: RotationType?
    public var storage: KeyStorageMode
    /// `CKA_ID` of the token object(s) in `token` mode (16 random bytes).
    public var objectID: [UInt8]
    /// The secret or private key wrapped under the domain key (`wrapped` mode).
    public var wrappedKey: [UInt8]?
    /// DER SubjectPublicKeyInfo of asymmetric keys.
    public var publicKey: [UInt8]?
    /// Encryptions reserved against this version's random-IV budget. Counted
    /// in leases, so a crash can only overcount.
    public var encryptionsReserved: UInt64
    /// What the HSM said about the material the moment it was generated,
    /// before it was wrapped: in wrapped mode the only time its own
    /// attributes can be read (a copy unwrapped later is not CKA_LOCAL).
    /// Sealed with the row. Nil for versions made before it was recorded,
    /// and for imported material.
    public var generationAttributes: GenerationAttributes?
    /// HMAC made in the HSM over the row (see `MetadataSeal`); nil until sealed.
    public var seal: [UInt8]?

    public init(keyID: String, version: UInt32, createdAt: Date, rotationType: RotationType?, storage: KeyStorageMode,
                objectID: [UInt8], wrappedKey: [UInt8]?, publicKey: [UInt8]?, encryptionsReserved: UInt64 = 0,
                generationAttributes: GenerationAttributes? = nil, seal: [UInt8]? = nil) {
        self.keyID = keyID
        self.version = version
        self.createdAt = createdAt
        self.rotationType = rotationType
        self.storage = storage
        self.objectID = objectID
        self.wrappedKey = wrappedKey
        self.publicKey = publicKey
        self.encryptionsReserved = encryptionsReserved
        self.generationAttributes = generationAttributes
        self.seal = seal
    }

    /// `KeyMaterialId` as AWS shows it: 64 hex characters.
    public var keyMaterialID: String {
        SHA256Hex(Array(keyID.utf8) + withUnsafeBytes(of: version.bigEndian) { Array($0) } + objectID)
    }
}

public struct AliasRecord: Sendable, Hashable, Codable {
    /// Including the `alias/` prefix.
    public var aliasName: String
    public var targetKeyID: String
    public var createdAt: Date
    public var lastUpdatedAt: Date
    /// HMAC made in the HSM over the row (see `MetadataSeal`); nil until sealed.
    public var seal: [UInt8]?
    public init(aliasName: String, targetKeyID: String, createdAt: Date, lastUpdatedAt: Date, seal: [UInt8]? = nil) {
        self.aliasName = aliasName
        self.targetKeyID = targetKeyID
        self.createdAt = createdAt
        self.lastUpdatedAt = lastUpdatedAt
        self.seal = seal
    }
}

/// What GetParametersForImport handed out, kept until used or expired.
public struct ImportParametersRecord: Sendable, Hashable, Codable {
    public var keyID: String
    /// The opaque import token given to the caller.
    public var importToken: [UInt8]
    public var wrappingAlgorithm: WrappingAlgorithm
    public var wrappingKeySpec: WrappingKeySpec
    /// `CKA_ID` of the RSA wrapping key pair, a token object pair.
    public var objectID: [UInt8]
    public var publicKey: [UInt8]
    public var validTo: Date
    /// HMAC by the token's seal key over `MetadataSeal.bytes(_:)`: an edited
    /// valid_to, object id or wrapping algorithm is refused, not used.
    public var seal: [UInt8]?
    public init(keyID: String, importToken: [UInt8], wrappingAlgorithm: WrappingAlgorithm,
                wrappingKeySpec: WrappingKeySpec, objectID: [UInt8], publicKey: [UInt8], validTo: Date,
                seal: [UInt8]? = nil) {
        self.seal = seal
        self.keyID = keyID
        self.importToken = importToken
        self.wrappingAlgorithm = wrappingAlgorithm
        self.wrappingKeySpec = wrappingKeySpec
        self.objectID = objectID
        self.publicKey = publicKey
        self.validTo = validTo
    }
}

/// The protection attributes of a key as the HSM reported them (nil: not reported).
public struct GenerationAttributes: Sendable, Hashable, Codable {
    public var local, alwaysSensitive, neverExtractable, extractable, sensitive: Bool?

    public init(local: Bool?, alwaysSensitive: Bool?, neverExtractable: Bool?, extractable: Bool?, sensitive: Bool?) {
        (self.local, self.alwaysSensitive, self.neverExtractable, self.extractable, self.sensitive) =
            (local, alwaysSensitive, neverExtractable, extractable, sensitive)
    }

    /// How the store and the seal hold it: `local=1,always_sensitive=1,...`
    /// with `?` for an attribute the HSM did not report.
    public var text: String {
        [("local", local), ("always_sensitive", alwaysSensitive), ("never_extractable", neverExtractable),
         ("extractable", extractable), ("sensitive", sensitive)]
            .map { "\($0.0)=\($0.1.map { $0 ? "1" : "0" } ?? "?")" }.joined(separator: ",")
    }

    public init?(text: String) {
        var values: [String: Bool?] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            switch parts[1] {
            case "1": values[parts[0]] = .some(true)
            case "0": values[parts[0]] = .some(false)
            case "?": values[parts[0]] = .some(nil)
            default: return nil
            }
        }
        guard values.count == 5, let l = values["local"], let a = values["always_sensitive"], let n = values["never_extractable"],
              let e = values["extractable"], let s = values["sensitive"] else { return nil }
        self.init(local: l, alwaysSensitive: a, neverExtractable: n, extractable: e, sensitive: s)
    }
}
