import Foundation
/// Where key metadata, versions, aliases, grants and import parameters live
/// (DESIGN.md §7). Every method is atomic: a multi-row change either lands
/// whole or not at all. Listing is by key id (or alias name), in byte order,
/// which is what paging markers refer to.
public protocol MetadataStore: Sendable {
    // Keys.
    func key(id: String) async throws -> KeyRecord?
    /// Keys with id greater than `after` (all when nil), in id order, at most `limit`.
    func keys(after: String?, limit: Int) async throws -> [KeyRecord]
    /// Inserts a key and its first version (nil for keys awaiting import).
    func insert(_ key: KeyRecord, version: VersionRecord?) async throws
    /// Replaces a key's row. Throws `MetadataStoreError.notFound` if it is gone.
    func update(_ key: KeyRecord) async throws
    /// Removes a key with its versions, aliases and import parameters.
    func deleteKey(id: String) async throws

    // Versions.
    func versions(keyID: String) async throws -> [VersionRecord]
    func version(keyID: String, version: UInt32) async throws -> VersionRecord?
    /// Adds a version and updates the key row in one transaction (rotation, import).
    func add(_ version: VersionRecord, updating key: KeyRecord) async throws
    /// Removes every version of a key and updates the key row in one transaction.
    func deleteVersions(keyID: String, updating key: KeyRecord) async throws
    /// Replaces the wrapped material (and seal) of existing versions of one
    /// key in one transaction: re-wrapping under a new key-encryption key.
    /// Throws `MetadataStoreError.notFound` if a version is gone.
    func replaceWrappedKeys(_ versions: [VersionRecord]) async throws
    /// Raises a version's reserved encryption count to `reserved` (never lowers it).
    func reserveEncryptions(keyID: String, version: UInt32, reserved: UInt64) async throws
    /// Every version of every key (start-up reconciliation).
    func allVersions() async throws -> [VersionRecord]

    // Aliases.
    func alias(name: String) async throws -> AliasRecord?
    /// Aliases with name greater than `after`, in name order, optionally of one key.
    func aliases(keyID: String?, after: String?, limit: Int) async throws -> [AliasRecord]
    /// Throws `MetadataStoreError.alreadyExists` if the name is taken.
    func insert(_ alias: AliasRecord) async throws
    func update(_ alias: AliasRecord) async throws
    func deleteAlias(name: String) async throws

    // Import parameters.
    func importParameters(keyID: String) async throws -> ImportParametersRecord?
    /// Replaces any earlier parameters of the same key.
    func put(_ parameters: ImportParametersRecord) async throws
    func deleteImportParameters(keyID: String) async throws
    func allImportParameters() async throws -> [ImportParametersRecord]

    // Grants (deleted with their key).
    /// The grants of one key, in grant id order.
    func grants(keyID: String) async throws -> [GrantRecord]
    /// Throws `MetadataStoreError.notFound` if the key is gone.
    func insert(_ grant: GrantRecord) async throws
    func deleteGrant(id: String) async throws

    // Last use (GetKeyLastUsage; deleted with their key). Not sealed: a
    // last-use row grants nothing, and the audit log is the record of use.
    /// The last use of `keyID` by each operation.
    func usage(keyID: String) async throws -> [KeyUsageRecord]
    /// Records uses in one transaction; for each key and operation the later
    /// use wins, and uses of keys that are gone are dropped.
    func recordUsage(_ uses: [KeyUsageRecord]) async throws
    /// When this store began tracking use (the schema migration that added it).
    func usageTrackingStart() async throws -> Date

    // Custom key stores (extra tokens; issue #17). A key row naming a store
    // keeps the store from being deleted.
    /// Every custom key store, in id order.
    func customKeyStores() async throws -> [CustomKeyStoreRecord]
    /// Inserts or replaces a store; `alreadyExists` when its name or cluster is another store's.
    func put(_ store: CustomKeyStoreRecord) async throws
    func deleteCustomKeyStore(id: String) async throws

    // Loading.
    /// Every row, read in one transaction (the registry's start-up load).
    func snapshot() async throws -> MetadataSnapshot

    // Health.
    /// Throws unless a write transaction can start now; changes nothing.
    func checkWritable() async throws
}

public enum MetadataStoreError: Error, Hashable, Sendable {
    case notFound
    case alreadyExists
}

extension MetadataStore {
    /// Whether a write transaction can be started now (health checks).
    public func isWritable() async -> Bool {
        (try? await checkWritable()) != nil
    }
}
