/// Every row of a store, read at one moment: what the in-memory registry
/// loads at start-up (see `KeyRegistry`).
public struct MetadataSnapshot: Sendable {
    public var keys: [KeyRecord]
    public var versions: [VersionRecord]
    public var aliases: [AliasRecord]
    public var importParameters: [ImportParametersRecord]
    public var grants: [GrantRecord]
    public var customKeyStores: [CustomKeyStoreRecord]
    /// Keys with a row that failed its integrity check, with what failed;
    /// such a key refuses service. Their rows are left out of the lists above.
    public var tamperedKeys: [String: String]
    /// Alias rows that failed their check: name → the key the row claims.
    public var tamperedAliases: [String: String]

    public init(keys: [KeyRecord], versions: [VersionRecord], aliases: [AliasRecord],
                importParameters: [ImportParametersRecord], grants: [GrantRecord] = [], tamperedKeys: [String: String] = [:],
                tamperedAliases: [String: String] = [:], customKeyStores: [CustomKeyStoreRecord] = []) {
        self.customKeyStores = customKeyStores
        self.keys = keys
        self.versions = versions
        self.aliases = aliases
        self.importParameters = importParameters
        self.grants = grants
        self.tamperedKeys = tamperedKeys
        self.tamperedAliases = tamperedAliases
    }
}
