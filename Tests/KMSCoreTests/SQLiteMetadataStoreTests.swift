import Foundation
import KMSModel
import Testing

@testable import KMSCore

@Suite struct SQLiteMetadataStoreTests {
    // MARK: Round trips

    @Test(arguments: [Fixture.minimalKey, Fixture.fullKey])
    func keyRoundTrip(key: KeyRecord) async throws {
        let store = try SQLiteMetadataStore.inMemory()
        try await store.insert(key, version: nil)
        #expect(try await store.key(id: key.keyID) == key)
        #expect(try await store.keys(after: nil, limit: 10) == [key])
        #expect(try await store.versions(keyID: key.keyID).isEmpty)
    }

    @Test func everyEnumCaseRoundTrips() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let cases = max(KeySpec.allCases.count, KeyUsageType.allCases.count, KeyState.allCases.count)
        var keys: [KeyRecord] = []
        for index in 0..<cases {
            var key = Fixture.fullKey
            key.keyID = String(format: "key-%02d", index)
            key.keySpec = KeySpec.allCases[index % KeySpec.allCases.count]
            key.keyUsage = KeyUsageType.allCases[index % KeyUsageType.allCases.count]
            key.state = KeyState.allCases[index % KeyState.allCases.count]
            key.origin = Origin.allCases[index % Origin.allCases.count]
            key.expirationModel = ExpirationModel.allCases[index % ExpirationModel.allCases.count]
            var version = Fixture.version(of: key.keyID, 1)
            version.storage = KeyStorageMode.allCases[index % KeyStorageMode.allCases.count]
            version.rotationType = RotationType.allCases[index % RotationType.allCases.count]
            try await store.insert(key, version: version)
            #expect(try await store.version(keyID: key.keyID, version: 1) == version)
            keys.append(key)
        }
        #expect(try await store.keys(after: nil, limit: 100) == keys)
    }

    @Test func grantsRoundTripAndGoWithTheirKey() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let key = Fixture.fullKey
        try await store.insert(key, version: nil)
        let constrained = GrantRecord(grantID: String(repeating: "b", count: 64), keyID: key.keyID, name: "app",
                                      granteePrincipal: "unix:group:apps", retiringPrincipal: "unix:uid:7",
                                      operations: [.decrypt, .encrypt, .reEncryptFrom],
                                      constraints: GrantConstraints(encryptionContextEquals: ["tenant": "acme", "é": ""]),
                                      createdAt: Fixture.date(3), seal: [1, 2, 3])
        let plain = GrantRecord(grantID: String(repeating: "a", count: 64), keyID: key.keyID, name: nil,
                                granteePrincipal: "unix:uid:1", retiringPrincipal: nil, operations: [.describeKey],
                                constraints: nil, createdAt: Fixture.date(4))
        try await store.insert(constrained)
        try await store.insert(plain)
        #expect(try await store.grants(keyID: key.keyID) == [plain, constrained], "in grant id order")
        #expect(try await store.snapshot().grants == [plain, constrained])
        await #expect(throws: MetadataStoreError.alreadyExists) { try await store.insert(plain) }
        var orphan = plain
        orphan.grantID = String(repeating: "c", count: 64)
        orphan.keyID = "no-such-key"
        await #expect(throws: MetadataStoreError.notFound) { try await store.insert(orphan) }
        try await store.deleteGrant(id: plain.grantID)
        #expect(try await store.grants(keyID: key.keyID) == [constrained])
        try await store.deleteKey(id: key.keyID)
        #expect(try await store.snapshot().grants.isEmpty)
    }

    @Test func versionRoundTrip() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let key = Fixture.fullKey
        let first = VersionRecord(keyID: key.keyID, version: 1, createdAt: Fixture.date(1), rotationType: nil,
                                  storage: .token, objectID: Array(repeating: 0xA5, count: 16),
                                  wrappedKey: nil, publicKey: nil)
        // Empty blobs stay empty, not NULL; a count past 2^32 survives.
        let second = VersionRecord(keyID: key.keyID, version: UInt32.max, createdAt: Fixture.date(2),
                                   rotationType: .onDemand, storage: .wrapped, objectID: [],
                                   wrappedKey: [0, 1, 2, 0xFF], publicKey: [],
                                   encryptionsReserved: (1 << 40) + 7)
        try await store.insert(key, version: first)
        try await store.add(second, updating: key)

        #expect(try await store.versions(keyID: key.keyID) == [first, second])
        #expect(try await store.version(keyID: key.keyID, version: 1) == first)
        #expect(try await store.version(keyID: key.keyID, version: UInt32.max) == second)
        #expect(try await store.version(keyID: key.keyID, version: 2) == nil)
        #expect(try await store.allVersions() == [first, second])
    }

    @Test func aliasRoundTrip() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        try await store.insert(Fixture.minimalKey, version: nil)
        let alias = AliasRecord(aliasName: "alias/ünïcode-name", targetKeyID: Fixture.minimalKey.keyID,
                                createdAt: Fixture.date(3), lastUpdatedAt: Fixture.date(4.25))
        try await store.insert(alias)
        #expect(try await store.alias(name: alias.aliasName) == alias)
        #expect(try await store.alias(name: "alias/other") == nil)
    }

    @Test func importParametersRoundTrip() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        try await store.insert(Fixture.minimalKey, version: nil)
        let parameters = Fixture.importParameters(of: Fixture.minimalKey.keyID)
        try await store.put(parameters)
        #expect(try await store.importParameters(keyID: parameters.keyID) == parameters)
    }

    @Test func datesKeepSubmicrosecondPrecisionNear2025() async throws {
        // REAL seconds since 1970 keep ~0.24 µs near 2025: exact for whole
        // milliseconds, and within a microsecond for any `Date()`.
        let store = try SQLiteMetadataStore.inMemory()
        var key = Fixture.minimalKey
        key.createdAt = Date()
        try await store.insert(key, version: nil)
        let stored = try #require(try await store.key(id: key.keyID))
        #expect(abs(stored.createdAt.timeIntervalSince(key.createdAt)) < 1e-6)
    }

    // MARK: Listing

    @Test func keysPageInIDOrder() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let ids = (0..<25).map { String(format: "key-%02d", $0) }
        for id in ids.shuffled() {
            try await store.insert(Fixture.key(id), version: nil)
        }
        var pages: [[String]] = []
        var marker: String?
        repeat {
            let page = try await store.keys(after: marker, limit: 10)
            pages.append(page.map(\.keyID))
            marker = page.count == 10 ? page.last?.keyID : nil
        } while marker != nil
        #expect(pages.map(\.count) == [10, 10, 5])
        #expect(pages.flatMap { $0 } == ids)
        #expect(try await store.keys(after: "key-24", limit: 10).isEmpty)
        #expect(try await store.keys(after: nil, limit: 0).isEmpty)
    }

    @Test func listingIsInByteOrder() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        // UTF-8 bytes: "B" 0x42 < "a" 0x61 < "z" 0x7A < "é" 0xC3 0xA9.
        for id in ["z", "é", "a", "B"] {
            try await store.insert(Fixture.key(id), version: nil)
            try await store.insert(AliasRecord(aliasName: "alias/\(id)", targetKeyID: id,
                                               createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0)))
        }
        #expect(try await store.keys(after: nil, limit: 10).map(\.keyID) == ["B", "a", "z", "é"])
        #expect(try await store.keys(after: "a", limit: 10).map(\.keyID) == ["z", "é"])
        #expect(try await store.aliases(keyID: nil, after: "alias/a", limit: 10).map(\.aliasName)
                == ["alias/z", "alias/é"])
    }

    @Test func aliasesFilterByKeyAndPage() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        try await store.insert(Fixture.key("k1"), version: nil)
        try await store.insert(Fixture.key("k2"), version: nil)
        for index in 0..<6 {
            try await store.insert(AliasRecord(aliasName: "alias/a\(index)", targetKeyID: index.isMultiple(of: 2) ? "k1" : "k2",
                                               createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0)))
        }
        #expect(try await store.aliases(keyID: "k1", after: nil, limit: 10).map(\.aliasName)
                == ["alias/a0", "alias/a2", "alias/a4"])
        #expect(try await store.aliases(keyID: "k2", after: "alias/a1", limit: 1).map(\.aliasName) == ["alias/a3"])
        #expect(try await store.aliases(keyID: nil, after: "alias/a3", limit: 10).map(\.aliasName)
                == ["alias/a4", "alias/a5"])
        #expect(try await store.aliases(keyID: "no-such-key", after: nil, limit: 10).isEmpty)
    }

    // MARK: Errors

    @Test func duplicatesAreRefused() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let key = Fixture.minimalKey
        try await store.insert(key, version: Fixture.version(of: key.keyID, 1))
        let alias = AliasRecord(aliasName: "alias/taken", targetKeyID: key.keyID,
                                createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0))
        try await store.insert(alias)

        var other = alias
        other.createdAt = Fixture.date(99)
        await #expect(throws: MetadataStoreError.alreadyExists) { try await store.insert(other) }
        #expect(try await store.alias(name: alias.aliasName) == alias)
        await #expect(throws: MetadataStoreError.alreadyExists) { try await store.insert(key, version: nil) }
        await #expect(throws: MetadataStoreError.alreadyExists) {
            try await store.add(Fixture.version(of: key.keyID, 1), updating: key)
        }
    }

    @Test func updatingMissingRowsFails() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        await #expect(throws: MetadataStoreError.notFound) { try await store.update(Fixture.minimalKey) }
        let alias = AliasRecord(aliasName: "alias/missing", targetKeyID: Fixture.minimalKey.keyID,
                                createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0))
        await #expect(throws: MetadataStoreError.notFound) { try await store.update(alias) }
        await #expect(throws: MetadataStoreError.notFound) {
            try await store.reserveEncryptions(keyID: Fixture.minimalKey.keyID, version: 1, reserved: 1)
        }
        #expect(try await store.key(id: Fixture.minimalKey.keyID) == nil)
        #expect(try await store.alias(name: alias.aliasName) == nil)
    }

    @Test func referencesToMissingKeysFail() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let alias = AliasRecord(aliasName: "alias/dangling", targetKeyID: "no-such-key",
                                createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0))
        await #expect(throws: MetadataStoreError.notFound) { try await store.insert(alias) }
        await #expect(throws: MetadataStoreError.notFound) {
            try await store.put(Fixture.importParameters(of: "no-such-key"))
        }
        #expect(try await store.aliases(keyID: nil, after: nil, limit: 10).isEmpty)
        #expect(try await store.allImportParameters().isEmpty)
    }

    @Test func updatesReplaceRows() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        try await store.insert(Fixture.minimalKey, version: nil)
        try await store.insert(Fixture.key("k2"), version: nil)
        var key = Fixture.fullKey
        key.keyID = Fixture.minimalKey.keyID
        try await store.update(key)
        #expect(try await store.key(id: key.keyID) == key)

        let alias = AliasRecord(aliasName: "alias/moving", targetKeyID: key.keyID,
                                createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0))
        try await store.insert(alias)
        let moved = AliasRecord(aliasName: alias.aliasName, targetKeyID: "k2",
                                createdAt: alias.createdAt, lastUpdatedAt: Fixture.date(10))
        try await store.update(moved)
        #expect(try await store.alias(name: alias.aliasName) == moved)
        #expect(try await store.aliases(keyID: key.keyID, after: nil, limit: 10).isEmpty)
    }

    // MARK: Deletion

    @Test func deletingAKeyCascades() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        for id in ["doomed", "kept"] {
            let key = Fixture.key(id)
            try await store.insert(key, version: Fixture.version(of: id, 1))
            try await store.add(Fixture.version(of: id, 2), updating: key)
            try await store.insert(AliasRecord(aliasName: "alias/\(id)-1", targetKeyID: id,
                                               createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0)))
            try await store.insert(AliasRecord(aliasName: "alias/\(id)-2", targetKeyID: id,
                                               createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0)))
            try await store.put(Fixture.importParameters(of: id))
        }
        try await store.deleteKey(id: "doomed")

        #expect(try await store.key(id: "doomed") == nil)
        #expect(try await store.versions(keyID: "doomed").isEmpty)
        #expect(try await store.aliases(keyID: "doomed", after: nil, limit: 10).isEmpty)
        #expect(try await store.importParameters(keyID: "doomed") == nil)

        #expect(try await store.keys(after: nil, limit: 10).map(\.keyID) == ["kept"])
        #expect(try await store.allVersions().map(\.keyID) == ["kept", "kept"])
        #expect(try await store.aliases(keyID: nil, after: nil, limit: 10).map(\.aliasName)
                == ["alias/kept-1", "alias/kept-2"])
        #expect(try await store.allImportParameters().map(\.keyID) == ["kept"])
    }

    @Test func deletingVersionsUpdatesTheKey() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        var key = Fixture.key("k")
        try await store.insert(key, version: Fixture.version(of: "k", 1))
        try await store.add(Fixture.version(of: "k", 2), updating: key)
        key.state = .pendingImport
        key.currentVersion = nil
        try await store.deleteVersions(keyID: "k", updating: key)
        #expect(try await store.versions(keyID: "k").isEmpty)
        #expect(try await store.key(id: "k") == key)
    }

    @Test func deletingAnAliasLeavesTheKey() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        try await store.insert(Fixture.key("k"), version: nil)
        try await store.insert(AliasRecord(aliasName: "alias/x", targetKeyID: "k",
                                           createdAt: Fixture.date(0), lastUpdatedAt: Fixture.date(0)))
        try await store.deleteAlias(name: "alias/x")
        #expect(try await store.alias(name: "alias/x") == nil)
        #expect(try await store.key(id: "k") != nil)
    }

    // MARK: Counters and import parameters

    @Test func reservedEncryptionsNeverGoDown() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        try await store.insert(Fixture.key("k"), version: Fixture.version(of: "k", 1))
        func reserved() async throws -> UInt64? {
            try await store.version(keyID: "k", version: 1)?.encryptionsReserved
        }
        try await store.reserveEncryptions(keyID: "k", version: 1, reserved: 100)
        #expect(try await reserved() == 100)
        try await store.reserveEncryptions(keyID: "k", version: 1, reserved: 50)
        #expect(try await reserved() == 100)
        try await store.reserveEncryptions(keyID: "k", version: 1, reserved: 1 << 33)
        #expect(try await reserved() == 1 << 33)
        // Past Int64.max the count is clamped, never wrapped to a smaller value.
        try await store.reserveEncryptions(keyID: "k", version: 1, reserved: .max)
        #expect(try await reserved() == UInt64(Int64.max))
    }

    @Test func importParametersReplaceAndDelete() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        for id in ["k1", "k2"] {
            try await store.insert(Fixture.key(id), version: nil)
        }
        let first = Fixture.importParameters(of: "k1")
        var second = first
        second.importToken = [9, 9, 9]
        second.wrappingAlgorithm = .rsaesOAEPSHA1
        second.wrappingKeySpec = .rsa4096
        second.validTo = Fixture.date(500)
        let other = Fixture.importParameters(of: "k2")

        try await store.put(first)
        try await store.put(other)
        try await store.put(second)
        #expect(try await store.importParameters(keyID: "k1") == second)
        #expect(try await store.allImportParameters() == [second, other])

        try await store.deleteImportParameters(keyID: "k1")
        #expect(try await store.importParameters(keyID: "k1") == nil)
        #expect(try await store.allImportParameters() == [other])
        #expect(try await store.key(id: "k1") != nil)
    }

    // MARK: Transactions

    @Test func addingAVersionToAMissingKeyLeavesNoRow() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        await #expect(throws: MetadataStoreError.notFound) {
            try await store.add(Fixture.version(of: "ghost", 1), updating: Fixture.key("ghost"))
        }
        #expect(try await store.version(keyID: "ghost", version: 1) == nil)
        #expect(try await store.allVersions().isEmpty)
        #expect(try await store.key(id: "ghost") == nil)
    }

    @Test func failedAddRollsBackTheKeyUpdate() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let key = Fixture.key("k")
        let first = Fixture.version(of: "k", 1)
        try await store.insert(key, version: first)
        // The key row is updated before the version insert fails on its
        // duplicate primary key; the whole transaction must go.
        var rotated = key
        rotated.currentVersion = 1
        rotated.description = "rotated"
        var duplicate = first
        duplicate.createdAt = Fixture.date(1000)
        await #expect(throws: MetadataStoreError.alreadyExists) { try await store.add(duplicate, updating: rotated) }
        #expect(try await store.key(id: "k") == key)
        #expect(try await store.versions(keyID: "k") == [first])
    }

    @Test func failedKeyInsertLeavesNoVersion() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let key = Fixture.key("k")
        try await store.insert(key, version: nil)
        await #expect(throws: MetadataStoreError.alreadyExists) {
            try await store.insert(key, version: Fixture.version(of: "k", 1))
        }
        #expect(try await store.allVersions().isEmpty)
    }

    @Test func deletingVersionsOfAMissingKeyChangesNothing() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        await #expect(throws: MetadataStoreError.notFound) {
            try await store.deleteVersions(keyID: "ghost", updating: Fixture.key("ghost"))
        }
        #expect(try await store.key(id: "ghost") == nil)
    }

    // MARK: The file

    @Test func fileDatabasePersistsInWALModeReadableByOwnerOnly() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metadata.sqlite").path
        let key = Fixture.fullKey
        let version = Fixture.version(of: key.keyID, 1)
        let alias = AliasRecord(aliasName: "alias/persisted", targetKeyID: key.keyID,
                                createdAt: Fixture.date(7), lastUpdatedAt: Fixture.date(8))
        let parameters = Fixture.importParameters(of: key.keyID)

        do {
            let store = try SQLiteMetadataStore(path: path)
            try await store.insert(key, version: version)
            try await store.insert(alias)
            try await store.put(parameters)
            #expect(try await store.pragma("journal_mode") == "wal")
            #expect(try await store.pragma("secure_delete") == "1")
            #expect(try await store.pragma("foreign_keys") == "1")
            #expect(try await store.pragma("synchronous") == "2")  // FULL
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                #expect(try Fixture.permissions(path + suffix) == 0o600, "\(suffix)")
            }
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
            try store.close()
        }

        let reopened = try SQLiteMetadataStore(path: path)
        #expect(try await reopened.key(id: key.keyID) == key)
        #expect(try await reopened.versions(keyID: key.keyID) == [version])
        #expect(try await reopened.alias(name: alias.aliasName) == alias)
        #expect(try await reopened.importParameters(keyID: key.keyID) == parameters)
        #expect(try await reopened.pragma("journal_mode") == "wal")
        #expect(try Fixture.permissions(path) == 0o600)
        try reopened.close()
    }

    @Test func openingTightensAnExistingFilesMode() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metadata.sqlite").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644]))
        let store = try SQLiteMetadataStore(path: path)
        #expect(try Fixture.permissions(path) == 0o600)
        try store.close()
    }

    @Test func deletedWrappedKeysAreOverwrittenInTheFile() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metadata.sqlite").path
        let secret = Array("wrapped-key-material-that-must-not-linger-0123456789".utf8)
        var version = Fixture.version(of: "k", 1)
        version.storage = .wrapped
        version.wrappedKey = secret

        // Closing checkpoints the WAL into the main file, so the blob is there.
        let store = try SQLiteMetadataStore(path: path)
        try await store.insert(Fixture.key("k"), version: version)
        try store.close()
        #expect(try Fixture.contains(path, secret))

        let reopened = try SQLiteMetadataStore(path: path)
        try await reopened.deleteKey(id: "k")
        try reopened.close()
        #expect(try !Fixture.contains(path, secret))
    }
}

private enum Fixture {
    static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: 1_750_000_000 + seconds) }

    static let minimalKey = KeyRecord(
        keyID: "1234abcd-12ab-34cd-56ef-1234567890ab", createdAt: date(0), description: "",
        keySpec: .symmetricDefault, keyUsage: .encryptDecrypt, origin: .awsKMS, state: .enabled, policy: "{}")

    static let fullKey = KeyRecord(
        keyID: "0f0e0d0c-aaaa-bbbb-cccc-0123456789ab", createdAt: date(0.125), description: "imported, rotated",
        keySpec: .eccNistP384, keyUsage: .signVerify, origin: .external, state: .pendingDeletion,
        policy: #"{"Version":"2012-10-17","Statement":[]}"#,
        tags: [Tag(tagKey: "z", tagValue: "last-but-first"), Tag(tagKey: "a", tagValue: ""),
               Tag(tagKey: "ключ", tagValue: "значение \"quoted\"")],
        deletionDate: date(86_400 * 7), pendingWindowInDays: 7, rotationEnabled: true, rotationPeriodInDays: 90,
        nextRotationDate: date(86_400 * 90), validTo: date(86_400 * 365), expirationModel: .keyMaterialExpires,
        importedMaterialCheck: [0x00, 0xDE, 0xAD, 0xBE, 0xEF, 0x00], currentVersion: 3)

    static func key(_ id: String) -> KeyRecord {
        var key = minimalKey
        key.keyID = id
        return key
    }

    static func version(of keyID: String, _ number: UInt32) -> VersionRecord {
        VersionRecord(keyID: keyID, version: number, createdAt: date(Double(number)), rotationType: nil,
                      storage: .token, objectID: Array(repeating: UInt8(number), count: 16),
                      wrappedKey: nil, publicKey: nil)
    }

    static func importParameters(of keyID: String) -> ImportParametersRecord {
        ImportParametersRecord(keyID: keyID, importToken: Array(0..<64), wrappingAlgorithm: .rsaAESKeyWrapSHA256,
                               wrappingKeySpec: .rsa2048, objectID: Array(repeating: 7, count: 16),
                               publicKey: [0x30, 0x82, 0x01, 0x22], validTo: date(86_400))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("SQLiteMetadataStoreTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func permissions(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    static func contains(_ path: String, _ needle: [UInt8]) throws -> Bool {
        let haystack = try Data(contentsOf: URL(fileURLWithPath: path))
        return haystack.range(of: Data(needle)) != nil
    }
}
