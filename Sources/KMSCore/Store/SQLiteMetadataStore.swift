import Foundation
import GRDB
import KMSModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded metadata store (DESIGN.md §7): one SQLite file in WAL mode,
/// readable and writable by the daemon's user only.
///
/// Each protocol method is one GRDB `read` or `write`, and every `write` is one
/// transaction, so multi-row changes land whole or not at all.
public final class SQLiteMetadataStore: MetadataStore {
    private let database: any DatabaseWriter

    /// Opens the database at `path`, creating it (mode 0600) if needed, and
    /// brings its schema up to date.
    public convenience init(path: String) throws {
        try createPrivateFile(atPath: path)
        try self.init(database: DatabasePool(path: path, configuration: Self.configuration()))
        // SQLite gives -wal and -shm the database file's mode; tighten anyway
        // in case they were left behind by an earlier, looser process.
        for suffix in ["", "-wal", "-shm"] {
            try restrictToOwner(path + suffix, mustExist: suffix.isEmpty)
        }
    }

    /// A consistent copy of the whole database in one file at `path` (SQLite's
    /// `VACUUM INTO`, so the WAL is included), mode 0600: what an operator's
    /// backup holds.
    public func backup(to path: String) async throws {
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: "VACUUM INTO ?", arguments: [path])
        }
        try restrictToOwner(path, mustExist: true)
    }

    /// A private in-memory database, for tests.
    public static func inMemory() throws -> SQLiteMetadataStore {
        try SQLiteMetadataStore(database: DatabaseQueue(configuration: configuration()))
    }

    private init(database: any DatabaseWriter) throws {
        self.database = database
        try database.writeWithoutTransaction { db in
            // A commit must survive power loss: a key's HSM object exists once
            // its row is committed, and reconciliation destroys HSM objects
            // whose rows vanished; a lost lease would reuse an IV budget.
            // Set here, as the pool sets NORMAL after `prepareDatabase`.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        try Self.migrator.migrate(database)
    }

    /// Closes the connections; later calls throw. Deinit closes too — this is
    /// for tests that must know the file is released before reopening it.
    func close() throws {
        try database.close()
    }

    /// The value of a PRAGMA on the writer connection, for tests.
    func pragma(_ name: String) async throws -> String? {
        precondition(name.allSatisfy { $0.isLetter || $0 == "_" }, "not a PRAGMA name: \(name)")
        return try await database.writeWithoutTransaction { db in
            switch try DatabaseValue.fetchOne(db, sql: "PRAGMA \(name)")?.storage {
            case .string(let text)?: text
            case .int64(let number)?: String(number)
            case .double(let number)?: String(number)
            case .blob, .null, nil: nil
            }
        }
    }

    // MARK: Keys

    public func key(id: String) async throws -> KeyRecord? {
        try await readNow { db in
            try KeyRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM keys WHERE key_id = ?"), arguments: [id])?.record
        }
    }

    public func keys(after: String?, limit: Int) async throws -> [KeyRecord] {
        guard limit > 0 else { return [] }
        return try await database.read { db in
            var request = KeyRow.all()
            if let after { request = request.filter(KeyRow.Columns.keyID > after) }
            return try request.order(KeyRow.Columns.keyID.collating(.binary)).limit(limit).fetchAll(db).map(\.record)
        }
    }

    public func insert(_ key: KeyRecord, version: VersionRecord?) async throws {
        if let version { precondition(version.keyID == key.keyID, "version of another key") }
        try await write { db in
            try KeyRow(key).insert(db)
            try version.map { try VersionRow($0).insert(db) }
        }
    }

    public func update(_ key: KeyRecord) async throws {
        try await write { db in try KeyRow(key).update(db) }
    }

    public func deleteKey(id: String) async throws {
        // Versions, aliases and import parameters go by ON DELETE CASCADE.
        try await write { db in _ = try KeyRow.deleteOne(db, key: id) }
    }

    // MARK: Versions

    public func versions(keyID: String) async throws -> [VersionRecord] {
        try await database.read { db in
            try VersionRow.filter(VersionRow.Columns.keyID == keyID)
                .order(VersionRow.Columns.version).fetchAll(db).map(\.record)
        }
    }

    public func version(keyID: String, version: UInt32) async throws -> VersionRecord? {
        try await readNow { db in
            try VersionRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM versions WHERE key_id = ? AND version = ?"),
                                    arguments: [keyID, Int64(version)])?.record
        }
    }

    public func add(_ version: VersionRecord, updating key: KeyRecord) async throws {
        precondition(version.keyID == key.keyID, "version of another key")
        try await write { db in
            try KeyRow(key).update(db)
            try VersionRow(version).insert(db)
        }
    }

    public func deleteVersions(keyID: String, updating key: KeyRecord) async throws {
        precondition(keyID == key.keyID, "versions of another key")
        try await write { db in
            try KeyRow(key).update(db)
            _ = try VersionRow.filter(VersionRow.Columns.keyID == keyID).deleteAll(db)
        }
    }

    public func replaceWrappedKeys(_ versions: [VersionRecord]) async throws {
        try await write { db in
            for v in versions {
                try db.execute(sql: "UPDATE versions SET wrapped_key = ?, seal = ? WHERE key_id = ? AND version = ?",
                               arguments: [v.wrappedKey.map { Data($0) }, v.seal.map { Data($0) }, v.keyID, Int64(v.version)])
                guard db.changesCount == 1 else { throw MetadataStoreError.notFound }
            }
        }
    }

    public func reserveEncryptions(keyID: String, version: UInt32, reserved: UInt64) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE versions SET encryptions_reserved = MAX(encryptions_reserved, ?)
                    WHERE key_id = ? AND version = ?
                    """,
                arguments: [storedCount(reserved), keyID, Int64(version)])
            guard db.changesCount == 1 else { throw MetadataStoreError.notFound }
        }
    }

    public func allVersions() async throws -> [VersionRecord] {
        try await database.read { db in
            try VersionRow.order(VersionRow.Columns.keyID.collating(.binary), VersionRow.Columns.version)
                .fetchAll(db).map(\.record)
        }
    }

    // MARK: Aliases

    public func alias(name: String) async throws -> AliasRecord? {
        try await readNow { db in
            try AliasRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM aliases WHERE alias_name = ?"), arguments: [name])?.record
        }
    }

    public func aliases(keyID: String?, after: String?, limit: Int) async throws -> [AliasRecord] {
        guard limit > 0 else { return [] }
        return try await database.read { db in
            var request = AliasRow.all()
            if let keyID { request = request.filter(AliasRow.Columns.targetKeyID == keyID) }
            if let after { request = request.filter(AliasRow.Columns.aliasName > after) }
            return try request.order(AliasRow.Columns.aliasName.collating(.binary)).limit(limit)
                .fetchAll(db).map(\.record)
        }
    }

    public func insert(_ alias: AliasRecord) async throws {
        try await write { db in try AliasRow(alias).insert(db) }
    }

    public func update(_ alias: AliasRecord) async throws {
        try await write { db in try AliasRow(alias).update(db) }
    }

    public func deleteAlias(name: String) async throws {
        try await write { db in _ = try AliasRow.deleteOne(db, key: name) }
    }

    // MARK: Import parameters

    public func importParameters(keyID: String) async throws -> ImportParametersRecord? {
        try await database.read { db in try ImportParametersRow.fetchOne(db, key: keyID)?.record }
    }

    public func put(_ parameters: ImportParametersRecord) async throws {
        try await write { db in try ImportParametersRow(parameters).insert(db, onConflict: .replace) }
    }

    public func deleteImportParameters(keyID: String) async throws {
        try await write { db in _ = try ImportParametersRow.deleteOne(db, key: keyID) }
    }

    public func allImportParameters() async throws -> [ImportParametersRecord] {
        try await database.read { db in
            try ImportParametersRow.order(ImportParametersRow.Columns.keyID.collating(.binary))
                .fetchAll(db).map(\.record)
        }
    }

    // MARK: Grants

    public func grants(keyID: String) async throws -> [GrantRecord] {
        try await database.read { db in
            try GrantRow.filter(GrantRow.Columns.keyID == keyID).order(GrantRow.Columns.grantID.collating(.binary))
                .fetchAll(db).map(\.record)
        }
    }

    public func insert(_ grant: GrantRecord) async throws {
        try await write { db in try GrantRow(grant).insert(db) }
    }

    public func deleteGrant(id: String) async throws {
        try await write { db in _ = try GrantRow.deleteOne(db, key: id) }
    }

    public func usage(keyID: String) async throws -> [KeyUsageRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT operation, used_at, request_id FROM key_usage WHERE key_id = ? ORDER BY operation",
                             arguments: [keyID]).map { row in
                KeyUsageRecord(keyID: keyID, operation: row["operation"], usedAt: Date(timeIntervalSince1970: row["used_at"]),
                               requestID: row["request_id"])
            }
        }
    }

    public func recordUsage(_ uses: [KeyUsageRecord]) async throws {
        guard !uses.isEmpty else { return }
        try await write { db in
            // EXISTS: a use that raced its key's deletion is dropped rather
            // than failing the batch on the foreign key.
            let statement = try db.cachedStatement(sql: """
                INSERT INTO key_usage (key_id, operation, used_at, request_id)
                SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM keys WHERE key_id = ?1)
                ON CONFLICT (key_id, operation) DO UPDATE SET used_at = excluded.used_at, request_id = excluded.request_id
                WHERE excluded.used_at >= key_usage.used_at
                """)
            for use in uses {
                try statement.execute(arguments: [use.keyID, use.operation, use.usedAt.timeIntervalSince1970, use.requestID])
            }
        }
    }

    public func usageTrackingStart() async throws -> Date {
        try await database.read { db in
            let seconds = try Double.fetchOne(db, sql: "SELECT started_at FROM usage_tracking") ?? 0
            return Date(timeIntervalSince1970: seconds)
        }
    }

    public func snapshot() async throws -> MetadataSnapshot {
        try await database.read { db in
            MetadataSnapshot(
                keys: try KeyRow.order(KeyRow.Columns.keyID.collating(.binary)).fetchAll(db).map(\.record),
                versions: try VersionRow.order(VersionRow.Columns.keyID.collating(.binary), VersionRow.Columns.version)
                    .fetchAll(db).map(\.record),
                aliases: try AliasRow.order(AliasRow.Columns.aliasName.collating(.binary)).fetchAll(db).map(\.record),
                importParameters: try ImportParametersRow.fetchAll(db).map(\.record),
                grants: try GrantRow.order(GrantRow.Columns.grantID.collating(.binary)).fetchAll(db).map(\.record),
                customKeyStores: try CustomKeyStoreRow.order(Column("id").collating(.binary)).fetchAll(db).map(\.record))
        }
    }

    // MARK: Custom key stores

    public func customKeyStores() async throws -> [CustomKeyStoreRecord] {
        try await database.read { db in
            try CustomKeyStoreRow.order(Column("id").collating(.binary)).fetchAll(db).map(\.record)
        }
    }

    /// Inserts or replaces; a name or cluster taken by another store is `alreadyExists`.
    public func put(_ store: CustomKeyStoreRecord) async throws {
        try await write { db in try CustomKeyStoreRow(store).save(db) }
    }

    public func deleteCustomKeyStore(id: String) async throws {
        try await write { db in
            _ = try CustomKeyStoreRow.deleteOne(db, key: id)
        }
    }

    /// Takes the write lock (`BEGIN IMMEDIATE`) and rolls back: fails when
    /// the file or its directory cannot be written, changes nothing.
    public func checkWritable() async throws {
        try await database.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) { .rollback }
        }
    }

    // MARK: Plumbing

    /// A point read by primary key. Requests never come here (the engine's
    /// `KeyRegistry` answers them from memory), so this takes GRDB's async
    /// path: a synchronous read on the caller's thread would block Swift's
    /// cooperative pool while it waits for a reader connection, which with
    /// two cores and a burst of requests deadlocked the daemon.
    private func readNow<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await database.read(body)
    }

    /// One write transaction, with SQLite's constraint failures turned into
    /// the protocol's errors: a taken primary key is `alreadyExists`; a
    /// missing row to update, or a missing key to refer to, is `notFound`.
    private func write(_ updates: @escaping @Sendable (Database) throws -> Void) async throws {
        do {
            try await database.write(updates)
        } catch let error as DatabaseError
                    where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
                    || error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw MetadataStoreError.alreadyExists
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw MetadataStoreError.notFound
        } catch RecordError.recordNotFound {
            throw MetadataStoreError.notFound
        }
    }

    private static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Another process opening the same file may hold the write lock for a moment.
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // Overwrite deleted wrapped-key blobs instead of leaving them in free space.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        return configuration
    }
}

// MARK: - File mode

/// Creates the file with mode 0600 before SQLite sees it, so it is never
/// readable by others, not even empty. An existing file keeps its contents.
private func createPrivateFile(atPath path: String) throws {
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    close(descriptor)
}

private func restrictToOwner(_ path: String, mustExist: Bool) throws {
    guard chmod(path, 0o600) == 0 else {
        if errno == ENOENT && !mustExist { return }
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
}

// MARK: - Schema

extension SQLiteMetadataStore {
    /// Each migration is registered once and never edited after release; a
    /// schema change is a new migration ("v2", ...).
    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "keys") { t in
                t.primaryKey("key_id", .text).notNull()
                t.column("created_at", .double).notNull()
                t.column("description", .text).notNull()
                t.column("key_spec", .text).notNull()
                t.column("key_usage", .text).notNull()
                t.column("origin", .text).notNull()
                t.column("state", .text).notNull()
                t.column("policy", .text).notNull()
                t.column("tags", .text).notNull().defaults(to: "[]")  // JSON array, in order
                t.column("deletion_date", .double)
                t.column("pending_window_in_days", .integer)
                t.column("rotation_enabled", .boolean).notNull()
                t.column("rotation_period_in_days", .integer)
                t.column("next_rotation_date", .double)
                t.column("valid_to", .double)
                t.column("expiration_model", .text)
                t.column("imported_material_check", .blob)
                t.column("current_version", .integer)
            }
            try db.create(table: "versions") { t in
                t.column("key_id", .text).notNull().references("keys", onDelete: .cascade)
                t.column("version", .integer).notNull()
                t.column("created_at", .double).notNull()
                t.column("rotation_type", .text)
                t.column("storage", .text).notNull()
                t.column("object_id", .blob).notNull()
                t.column("wrapped_key", .blob)
                t.column("public_key", .blob)
                t.column("encryptions_reserved", .integer).notNull().defaults(to: 0)
                t.primaryKey(["key_id", "version"])
            }
            try db.create(table: "aliases") { t in
                t.primaryKey("alias_name", .text).notNull()
                t.column("target_key_id", .text).notNull().indexed().references("keys", onDelete: .cascade)
                t.column("created_at", .double).notNull()
                t.column("last_updated_at", .double).notNull()
            }
            try db.create(table: "import_parameters") { t in
                t.primaryKey("key_id", .text).notNull().references("keys", onDelete: .cascade)
                t.column("import_token", .blob).notNull()
                t.column("wrapping_algorithm", .text).notNull()
                t.column("wrapping_key_spec", .text).notNull()
                t.column("object_id", .blob).notNull()
                t.column("public_key", .blob).notNull()
                t.column("valid_to", .double).notNull()
            }
        }
        // v2: the seal of each row that grants or describes power.
        migrator.registerMigration("v2") { db in
            for table in ["keys", "versions", "aliases"] {
                try db.alter(table: table) { t in t.add(column: "seal", .blob) }
            }
        }
        // v3: import parameters are sealed too (issue #14).
        migrator.registerMigration("v3") { db in
            try db.alter(table: "import_parameters") { t in t.add(column: "seal", .blob) }
        }
        // v4: grants, sealed, deleted with their key (issue #17).
        migrator.registerMigration("v4") { db in
            try db.create(table: "grants") { t in
                t.primaryKey("grant_id", .text).notNull()
                t.column("key_id", .text).notNull().indexed().references("keys", onDelete: .cascade)
                t.column("name", .text)
                t.column("grantee_principal", .text).notNull()
                t.column("retiring_principal", .text)
                t.column("operations", .text).notNull()    // comma-separated GrantOperation names
                t.column("constraints", .text)             // JSON {"EncryptionContextSubset":{...},...}
                t.column("created_at", .double).notNull()
                t.column("seal", .blob)
            }
        }
        // v5: the last use of each key by each operation, and since when
        // that is tracked (GetKeyLastUsage, issue #17).
        migrator.registerMigration("v5") { db in
            try db.create(table: "key_usage") { t in
                t.column("key_id", .text).notNull().references("keys", onDelete: .cascade)
                t.column("operation", .text).notNull()
                t.column("used_at", .double).notNull()
                t.column("request_id", .text).notNull()
                t.primaryKey(["key_id", "operation"])
            }
            try db.create(table: "usage_tracking") { t in t.column("started_at", .double).notNull() }
            try db.execute(sql: "INSERT INTO usage_tracking (started_at) VALUES (?)",
                           arguments: [Date().timeIntervalSince1970.rounded(.down)])
        }
        // v6: custom key stores (extra tokens), and the store each key lives in (issue #17).
        migrator.registerMigration("v6") { db in
            try db.create(table: "custom_key_stores") { t in
                t.primaryKey("id", .text).notNull()
                t.column("name", .text).notNull().unique()
                t.column("cluster_id", .text).notNull().unique()
                t.column("trust_anchor_certificate", .text)
                t.column("encrypted_password", .blob).notNull()
                t.column("created_at", .double).notNull()
                t.column("connected", .boolean).notNull()
                t.column("seal", .blob)
            }
            try db.alter(table: "keys") { t in
                t.add(column: "custom_key_store_id", .text).references("custom_key_stores", onDelete: .restrict)
            }
        }
        // What the HSM said about each version's material when it was generated
        // (VersionRecord.generationAttributes); old rows have none.
        migrator.registerMigration("v7") { db in
            try db.alter(table: "versions") { t in t.add(column: "generation_attributes", .text) }
        }
        return migrator
    }
}

// MARK: - Rows

/// Maps `KeyRecord` to and from a `keys` row, column by column.
private struct KeyRow: FetchableRecord, PersistableRecord {
    static let databaseTableName = "keys"
    enum Columns {
        static let keyID = Column("key_id")
    }

    var record: KeyRecord
    init(_ record: KeyRecord) { self.record = record }

    init(row: Row) throws {
        record = try KeyRecord(
            keyID: row.decode(forColumn: "key_id"),
            createdAt: decodeDate(row, "created_at"),
            description: row.decode(forColumn: "description"),
            keySpec: decodeEnum(row, "key_spec"),
            keyUsage: decodeEnum(row, "key_usage"),
            origin: decodeEnum(row, "origin"),
            state: decodeEnum(row, "state"),
            policy: row.decode(forColumn: "policy"),
            tags: decodeTags(row, "tags"),
            deletionDate: decodeDateIfPresent(row, "deletion_date"),
            pendingWindowInDays: row.decode(forColumn: "pending_window_in_days"),
            rotationEnabled: row.decode(forColumn: "rotation_enabled"),
            rotationPeriodInDays: row.decode(forColumn: "rotation_period_in_days"),
            nextRotationDate: decodeDateIfPresent(row, "next_rotation_date"),
            validTo: decodeDateIfPresent(row, "valid_to"),
            expirationModel: decodeEnumIfPresent(row, "expiration_model"),
            importedMaterialCheck: decodeBytesIfPresent(row, "imported_material_check"),
            currentVersion: decodeIntegerIfPresent(row, "current_version"),
            seal: decodeBytesIfPresent(row, "seal"))
        record.customKeyStoreID = row["custom_key_store_id"]
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["key_id"] = record.keyID
        container["created_at"] = storedDate(record.createdAt)
        container["description"] = record.description
        container["key_spec"] = record.keySpec.rawValue
        container["key_usage"] = record.keyUsage.rawValue
        container["origin"] = record.origin.rawValue
        container["state"] = record.state.rawValue
        container["policy"] = record.policy
        container["tags"] = try storedTags(record.tags)
        container["deletion_date"] = record.deletionDate.map(storedDate)
        container["pending_window_in_days"] = record.pendingWindowInDays
        container["rotation_enabled"] = record.rotationEnabled
        container["rotation_period_in_days"] = record.rotationPeriodInDays
        container["next_rotation_date"] = record.nextRotationDate.map(storedDate)
        container["valid_to"] = record.validTo.map(storedDate)
        container["expiration_model"] = record.expirationModel?.rawValue
        container["imported_material_check"] = record.importedMaterialCheck.map { Data($0) }
        container["current_version"] = record.currentVersion.map { Int64($0) }
        container["custom_key_store_id"] = record.customKeyStoreID
        container["seal"] = record.seal.map { Data($0) }
    }
}

private struct CustomKeyStoreRow: FetchableRecord, PersistableRecord {
    static let databaseTableName = "custom_key_stores"
    var record: CustomKeyStoreRecord
    init(_ record: CustomKeyStoreRecord) { self.record = record }

    init(row: Row) throws {
        record = try CustomKeyStoreRecord(
            id: row.decode(forColumn: "id"), name: row.decode(forColumn: "name"),
            clusterID: row.decode(forColumn: "cluster_id"), trustAnchorCertificate: row["trust_anchor_certificate"],
            encryptedPassword: decodeBytes(row, "encrypted_password"), createdAt: decodeDate(row, "created_at"),
            connected: row.decode(forColumn: "connected"), seal: decodeBytesIfPresent(row, "seal"))
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["id"] = record.id
        container["name"] = record.name
        container["cluster_id"] = record.clusterID
        container["trust_anchor_certificate"] = record.trustAnchorCertificate
        container["encrypted_password"] = Data(record.encryptedPassword)
        container["created_at"] = storedDate(record.createdAt)
        container["connected"] = record.connected
        container["seal"] = record.seal.map { Data($0) }
    }
}

private struct VersionRow: FetchableRecord, PersistableRecord {
    static let databaseTableName = "versions"
    enum Columns {
        static let keyID = Column("key_id")
        static let version = Column("version")
    }

    var record: VersionRecord
    init(_ record: VersionRecord) { self.record = record }

    init(row: Row) throws {
        record = try VersionRecord(
            keyID: row.decode(forColumn: "key_id"),
            version: decodeInteger(row, "version"),
            createdAt: decodeDate(row, "created_at"),
            rotationType: decodeEnumIfPresent(row, "rotation_type"),
            storage: decodeEnum(row, "storage"),
            objectID: decodeBytes(row, "object_id"),
            wrappedKey: decodeBytesIfPresent(row, "wrapped_key"),
            publicKey: decodeBytesIfPresent(row, "public_key"),
            encryptionsReserved: decodeInteger(row, "encryptions_reserved"),
            generationAttributes: Self.decodeGenerationAttributes(row),
            seal: decodeBytesIfPresent(row, "seal"))
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["key_id"] = record.keyID
        container["version"] = Int64(record.version)
        container["created_at"] = storedDate(record.createdAt)
        container["rotation_type"] = record.rotationType?.rawValue
        container["storage"] = record.storage.rawValue
        container["object_id"] = Data(record.objectID)
        container["wrapped_key"] = record.wrappedKey.map { Data($0) }
        container["public_key"] = record.publicKey.map { Data($0) }
        container["encryptions_reserved"] = storedCount(record.encryptionsReserved)
        container["generation_attributes"] = record.generationAttributes?.text
        container["seal"] = record.seal.map { Data($0) }
    }

    private static func decodeGenerationAttributes(_ row: Row) throws -> GenerationAttributes? {
        guard let text: String = row["generation_attributes"] else { return nil }
        guard let attributes = GenerationAttributes(text: text) else {
            throw DatabaseError(message: "versions.generation_attributes is not in the form local=1,always_sensitive=1,...")
        }
        return attributes
    }
}

private struct AliasRow: FetchableRecord, PersistableRecord {
    static let databaseTableName = "aliases"
    enum Columns {
        static let aliasName = Column("alias_name")
        static let targetKeyID = Column("target_key_id")
    }

    var record: AliasRecord
    init(_ record: AliasRecord) { self.record = record }

    init(row: Row) throws {
        record = try AliasRecord(
            aliasName: row.decode(forColumn: "alias_name"),
            targetKeyID: row.decode(forColumn: "target_key_id"),
            createdAt: decodeDate(row, "created_at"),
            lastUpdatedAt: decodeDate(row, "last_updated_at"),
            seal: decodeBytesIfPresent(row, "seal"))
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["alias_name"] = record.aliasName
        container["target_key_id"] = record.targetKeyID
        container["created_at"] = storedDate(record.createdAt)
        container["last_updated_at"] = storedDate(record.lastUpdatedAt)
        container["seal"] = record.seal.map { Data($0) }
    }
}

private struct ImportParametersRow: FetchableRecord, PersistableRecord {
    static let databaseTableName = "import_parameters"
    enum Columns {
        static let keyID = Column("key_id")
    }

    var record: ImportParametersRecord
    init(_ record: ImportParametersRecord) { self.record = record }

    init(row: Row) throws {
        record = try ImportParametersRecord(
            keyID: row.decode(forColumn: "key_id"),
            importToken: decodeBytes(row, "import_token"),
            wrappingAlgorithm: decodeEnum(row, "wrapping_algorithm"),
            wrappingKeySpec: decodeEnum(row, "wrapping_key_spec"),
            objectID: decodeBytes(row, "object_id"),
            publicKey: decodeBytes(row, "public_key"),
            validTo: decodeDate(row, "valid_to"),
            seal: decodeBytesIfPresent(row, "seal"))
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["key_id"] = record.keyID
        container["import_token"] = Data(record.importToken)
        container["wrapping_algorithm"] = record.wrappingAlgorithm.rawValue
        container["wrapping_key_spec"] = record.wrappingKeySpec.rawValue
        container["object_id"] = Data(record.objectID)
        container["public_key"] = Data(record.publicKey)
        container["valid_to"] = storedDate(record.validTo)
        container["seal"] = record.seal.map { Data($0) }
    }
}

private struct GrantRow: FetchableRecord, PersistableRecord {
    static let databaseTableName = "grants"
    enum Columns {
        static let grantID = Column("grant_id")
        static let keyID = Column("key_id")
    }

    var record: GrantRecord
    init(_ record: GrantRecord) { self.record = record }

    init(row: Row) throws {
        let operations: String = try row.decode(forColumn: "operations")
        record = try GrantRecord(
            grantID: row.decode(forColumn: "grant_id"),
            keyID: row.decode(forColumn: "key_id"),
            name: row.decode(forColumn: "name"),
            granteePrincipal: row.decode(forColumn: "grantee_principal"),
            retiringPrincipal: row.decode(forColumn: "retiring_principal"),
            operations: operations.split(separator: ",").map { name in
                guard let op = GrantOperation(rawValue: String(name)) else {
                    throw StoredValueError(column: "operations", value: operations)
                }
                return op
            },
            constraints: decodeConstraints(row, "constraints"),
            createdAt: decodeDate(row, "created_at"),
            seal: decodeBytesIfPresent(row, "seal"))
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["grant_id"] = record.grantID
        container["key_id"] = record.keyID
        container["name"] = record.name
        container["grantee_principal"] = record.granteePrincipal
        container["retiring_principal"] = record.retiringPrincipal
        container["operations"] = record.operations.map(\.rawValue).joined(separator: ",")
        container["constraints"] = try record.constraints.map(storedConstraints)
        container["created_at"] = storedDate(record.createdAt)
        container["seal"] = record.seal.map { Data($0) }
    }
}

// MARK: - Column encodings

/// A stored value this version cannot read (an unknown enum case, a count out
/// of range, malformed tags): the file was written by something else.
struct StoredValueError: Error, CustomStringConvertible {
    let column: String
    let value: String
    var description: String { "metadata store: unreadable value \(value) in column \(column)" }
}

/// Dates are REAL seconds since 1970, readable with SQLite's date functions.
private func storedDate(_ date: Date) -> Double { date.timeIntervalSince1970 }

private func decodeDate(_ row: Row, _ column: String) throws -> Date {
    try Date(timeIntervalSince1970: row.decode(Double.self, forColumn: column))
}

private func decodeDateIfPresent(_ row: Row, _ column: String) throws -> Date? {
    try row.decode(Double?.self, forColumn: column).map { Date(timeIntervalSince1970: $0) }
}

/// Counts are budgets: one too large for INTEGER is clamped, which only overcounts.
private func storedCount(_ count: UInt64) -> Int64 { Int64(clamping: count) }

private func decodeInteger<Value: FixedWidthInteger>(_ row: Row, _ column: String) throws -> Value {
    let stored = try row.decode(Int64.self, forColumn: column)
    guard let value = Value(exactly: stored) else { throw StoredValueError(column: column, value: "\(stored)") }
    return value
}

private func decodeIntegerIfPresent<Value: FixedWidthInteger>(_ row: Row, _ column: String) throws -> Value? {
    guard let stored = try row.decode(Int64?.self, forColumn: column) else { return nil }
    guard let value = Value(exactly: stored) else { throw StoredValueError(column: column, value: "\(stored)") }
    return value
}

private func decodeEnum<Value: RawRepresentable<String>>(_ row: Row, _ column: String) throws -> Value {
    let stored = try row.decode(String.self, forColumn: column)
    guard let value = Value(rawValue: stored) else { throw StoredValueError(column: column, value: stored) }
    return value
}

private func decodeEnumIfPresent<Value: RawRepresentable<String>>(_ row: Row, _ column: String) throws -> Value? {
    guard let stored = try row.decode(String?.self, forColumn: column) else { return nil }
    guard let value = Value(rawValue: stored) else { throw StoredValueError(column: column, value: stored) }
    return value
}

private func decodeBytes(_ row: Row, _ column: String) throws -> [UInt8] {
    try Array(row.decode(Data.self, forColumn: column))
}

private func decodeBytesIfPresent(_ row: Row, _ column: String) throws -> [UInt8]? {
    try row.decode(Data?.self, forColumn: column).map { Array($0) }
}

/// Tags are a JSON array of `{"TagKey":…,"TagValue":…}`, which keeps their
/// order. The stored shape is spelt out here so that it never changes with
/// how the API types happen to be encoded.
private struct StoredTag: Codable {
    var key: String
    var value: String
    enum CodingKeys: String, CodingKey {
        case key = "TagKey", value = "TagValue"
    }
}

private func storedTags(_ tags: [Tag]) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(tags.map { StoredTag(key: $0.tagKey, value: $0.tagValue) }), as: UTF8.self)
}

private func decodeTags(_ row: Row, _ column: String) throws -> [Tag] {
    let stored = try row.decode(String.self, forColumn: column)
    if stored == "[]" { return [] }   // most keys: no decoder for every row read
    do {
        return try JSONDecoder().decode([StoredTag].self, from: Data(stored.utf8)).map { Tag(tagKey: $0.key, tagValue: $0.value) }
    } catch {
        throw StoredValueError(column: column, value: stored)
    }
}

/// Constraints in their wire shape, keys sorted, spelt out here so the
/// stored form never follows changes to the API types' coding.
private struct StoredConstraints: Codable {
    var subset: [String: String]?
    var equals: [String: String]?
    enum CodingKeys: String, CodingKey {
        case subset = "EncryptionContextSubset", equals = "EncryptionContextEquals"
    }
}

private func storedConstraints(_ c: GrantConstraints) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let stored = StoredConstraints(subset: c.encryptionContextSubset, equals: c.encryptionContextEquals)
    return String(decoding: try encoder.encode(stored), as: UTF8.self)
}

private func decodeConstraints(_ row: Row, _ column: String) throws -> GrantConstraints? {
    guard let stored = try row.decode(String?.self, forColumn: column) else { return nil }
    do {
        let c = try JSONDecoder().decode(StoredConstraints.self, from: Data(stored.utf8))
        return GrantConstraints(encryptionContextSubset: c.subset, encryptionContextEquals: c.equals)
    } catch {
        throw StoredValueError(column: column, value: stored)
    }
}
