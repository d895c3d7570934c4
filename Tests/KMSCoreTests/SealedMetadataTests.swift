import Foundation
@testable import KMSCore
import KMSModel
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Synchronization
import Testing

/// Rows edited behind the store's back are caught, never trusted.
@Suite("Sealed metadata")
struct SealedMetadataTests {
    final class Reports: Sendable {
        let notes = Mutex<[String]>([])
    }

    struct Setup {
        let raw: SQLiteMetadataStore
        let sealed: SealedMetadataStore
        let engine: KMSEngine
        let pool: SessionPool
        let reports: Reports
    }

    func setUp(_ mode: KeyStorageMode) async throws -> Setup {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let session = try token.openUserSession()
        try TokenSetup.ensureDomainKey(session)
        #expect(try TokenSetup.ensureSealKey(session))
        #expect(try !TokenSetup.ensureSealKey(session), "made once")
        let sealKey = try #require(try session.findObjects([.label(HSMMetadataSealer.keyLabel)]).first)
        #expect(try session.boolAttribute(.sensitive, of: sealKey) && !session.boolAttribute(.extractable, of: sealKey))
        #expect(try !session.boolAttribute(.encrypt, of: sealKey) && session.boolAttribute(.sign, of: sealKey))
        try session.close()
        let pool = try token.makePool()
        let raw = try SQLiteMetadataStore.inMemory()
        let reports = Reports()
        let sealed = SealedMetadataStore(inner: raw, sealer: try await HSMMetadataSealer(pool: pool),
                                         onTamper: { note in reports.notes.withLock { $0.append(note) } })
        var configuration = KMSConfiguration(keyStorage: mode)
        configuration.accessControl = AccessControl(keyCreators: PrincipalSet(uids: [1000]))
        let engine = try await KMSEngine(pool: pool, store: sealed, configuration: configuration)
        return Setup(raw: raw, sealed: sealed, engine: engine, pool: pool, reports: reports)
    }

    static let caller = Principal(uid: 1000, gid: 1000)

    /// A new engine over the same store: a daemon restart. A running engine
    /// serves from its registry and never rereads rows; a restart finds edits.
    func restarted(_ s: Setup, _ mode: KeyStorageMode = .wrapped) async throws -> KMSEngine {
        var configuration = KMSConfiguration(keyStorage: mode)
        configuration.accessControl = AccessControl(keyCreators: PrincipalSet(uids: [1000]))
        return try await KMSEngine(pool: s.pool, store: s.sealed, configuration: configuration)
    }

    @Test(arguments: KeyStorageMode.allCases)
    func aTamperedPolicyRowMakesOnlyThatKeyRefuseService(mode: KeyStorageMode) async throws {
        let s = try await setUp(mode)
        defer { Task { try? await s.pool.shutdown() } }
        let victim = try await s.engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        let bystander = try await s.engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        _ = try await s.engine.createAlias(AliasRequest(aliasName: "alias/victim", targetKeyId: victim), caller: Self.caller)
        #expect(try await s.raw.key(id: victim)?.seal?.count == 32, "rows are sealed when written")
        #expect(try await s.raw.version(keyID: victim, version: 1)?.seal?.count == 32)
        #expect(try await s.raw.alias(name: "alias/victim")?.seal?.count == 32)

        // Someone with the database file grants everyone everything.
        var edited = try #require(try await s.raw.key(id: victim))
        edited.policy = #"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}]}"#
        try await s.raw.update(edited)

        // The running engine is not fooled: it never rereads the row.
        await expectKMSError(.accessDenied) {
            try await s.engine.encrypt(EncryptRequest(keyId: victim, plaintext: Data("x".utf8)), caller: Principal(uid: 6666, gid: 6666))
        }
        let engine = try await restarted(s, mode)
        let mallory = Principal(uid: 6666, gid: 6666)
        await expectKMSError(.kmsInvalidState) {
            try await engine.encrypt(EncryptRequest(keyId: victim, plaintext: Data("x".utf8)), caller: mallory)
        }
        await expectKMSError(.kmsInvalidState) {
            try await engine.encrypt(EncryptRequest(keyId: victim, plaintext: Data("x".utf8)), caller: Self.caller)
        }
        await expectKMSError(.kmsInvalidState) { try await engine.describeKey(KeyIdRequest(keyId: "alias/victim"), caller: Self.caller) }
        // The scheduler and listings never see it; other keys keep working.
        #expect(try await s.sealed.keys(after: nil, limit: 10).map(\.keyID) == [bystander])
        let blob = try await engine.encrypt(EncryptRequest(keyId: bystander, plaintext: Data("fine".utf8)), caller: Self.caller)
        #expect(try await engine.decrypt(DecryptRequest(ciphertextBlob: blob.ciphertextBlob), caller: Self.caller).plaintext
                == Data("fine".utf8))
        // Reported once, with the reason, and in health.
        #expect(s.reports.notes.withLock { $0.count } == 1)
        #expect(s.reports.notes.withLock { $0.first?.contains(victim) } == true)
        let health = await engine.health()
        #expect(health.metadataTampered.keys.contains(victim) && !health.isHealthy)
        // Reconciliation still sees every row, so the material is never taken for an orphan.
        #expect(try await s.sealed.allVersions().contains { $0.keyID == victim })
    }

    @Test func everySealedRowKindIsChecked() async throws {
        let s = try await setUp(.wrapped)
        defer { Task { try? await s.pool.shutdown() } }
        let a = try await s.engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        let b = try await s.engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        let c = try await s.engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        _ = try await s.engine.createAlias(AliasRequest(aliasName: "alias/c", targetKeyId: c), caller: Self.caller)

        // A version row pointed at other material.
        var version = try #require(try await s.raw.version(keyID: a, version: 1))
        version.objectID = Array(repeating: 7, count: 16)
        let keyRow = try #require(try await s.raw.key(id: a))
        try await s.raw.deleteVersions(keyID: a, updating: keyRow)
        try await s.raw.add(version, updating: keyRow)

        // A key brought back from pending deletion by editing its state.
        _ = try await s.engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: b), caller: Self.caller)
        var key = try #require(try await s.raw.key(id: b))
        key.state = .enabled
        key.deletionDate = nil
        try await s.raw.update(key)

        // An alias moved to another key.
        var alias = try #require(try await s.raw.alias(name: "alias/c"))
        alias.targetKeyID = a
        try await s.raw.update(alias)

        let engine = try await restarted(s)
        await expectKMSError(.kmsInvalidState) { try await engine.encrypt(EncryptRequest(keyId: a, plaintext: Data("x".utf8)), caller: Self.caller) }
        await expectKMSError(.kmsInvalidState) { try await engine.encrypt(EncryptRequest(keyId: b, plaintext: Data("x".utf8)), caller: Self.caller) }
        await expectKMSError(.kmsInvalidState) { try await engine.describeKey(KeyIdRequest(keyId: "alias/c"), caller: Self.caller) }
        #expect(try await s.sealed.aliases(keyID: nil, after: nil, limit: 10).isEmpty)
        #expect(try await engine.listAliases(ListAliasesRequest(), caller: Self.caller).aliases.isEmpty)
        // Key c itself is untouched and works by id.
        _ = try await engine.encrypt(EncryptRequest(keyId: c, plaintext: Data("x".utf8)), caller: Self.caller)
        #expect(Set(await engine.health().metadataTampered.keys) == [a, b])
    }

    /// A grant grants power, so its row is sealed: widening its operations
    /// or handing it to someone else in the database makes its key refuse
    /// service at the next start, and the edit grants nothing.
    @Test func anEditedGrantRowIsRefused() async throws {
        let s = try await setUp(.token)
        defer { Task { try? await s.pool.shutdown() } }
        let key = try await s.engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        let other = try await s.engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        let g = try await s.engine.createGrant(CreateGrantRequest(keyId: key, granteePrincipal: "unix:uid:2001", operations: [.encrypt]),
                                               caller: Self.caller)
        _ = try await s.engine.createGrant(CreateGrantRequest(keyId: other, granteePrincipal: "unix:uid:2001", operations: [.encrypt]),
                                           caller: Self.caller)
        var row = try #require(try await s.raw.grants(keyID: key).first)
        #expect(row.grantID == g.grantId && row.seal?.count == 32, "sealed when written")
        row.operations = [.encrypt, .decrypt]
        row.granteePrincipal = "unix:uid:6666"
        try await s.raw.deleteGrant(id: row.grantID)
        try await s.raw.insert(row)

        let engine = try await restarted(s, .token)
        await expectKMSError(.kmsInvalidState) {
            try await engine.encrypt(EncryptRequest(keyId: key, plaintext: Data("x".utf8)), caller: Principal(uid: 6666, gid: 6666))
        }
        await expectKMSError(.kmsInvalidState) { try await engine.listGrants(ListGrantsRequest(keyId: key), caller: Self.caller) }
        #expect(Set(await engine.health().metadataTampered.keys) == [key])
        #expect(s.reports.notes.withLock { $0.contains { $0.contains("grant \(g.grantId)") } })
        // The other key's grant is untouched and still in force.
        _ = try await engine.encrypt(EncryptRequest(keyId: other, plaintext: Data("x".utf8)), caller: Principal(uid: 2001, gid: 2001))
    }

    /// Import parameters are sealed: stretching valid_to (or pointing the
    /// object id at another wrapping key) in the database is refused.
    @Test func editedImportParametersAreRefused() async throws {
        let s = try await setUp(.wrapped)
        defer { Task { try? await s.pool.shutdown() } }
        let key = try await s.engine.createKey(CreateKeyRequest(origin: .external), caller: Self.caller).keyMetadata.keyId
        _ = try await s.engine.getParametersForImport(
            GetParametersForImportRequest(keyId: key, wrappingAlgorithm: .rsaesOAEPSHA1, wrappingKeySpec: .rsa2048),
            caller: Self.caller)
        var parameters = try #require(try await s.raw.importParameters(keyID: key))
        #expect(parameters.seal != nil)
        #expect(try await s.sealed.importParameters(keyID: key) == parameters)
        parameters.validTo = parameters.validTo.addingTimeInterval(365 * 86_400)
        try await s.raw.put(parameters)   // the old seal, the new date

        await expectKMSError(.kmsInvalidState) { try await s.sealed.importParameters(keyID: key) }
        let engine = try await restarted(s)
        #expect(await engine.health().metadataTampered[key] == "its import parameters")
        #expect(try await s.sealed.allImportParameters().isEmpty)
    }

    @Test func canonicalBytesSurviveTheStoresDatePrecision() async throws {
        let store = try SQLiteMetadataStore.inMemory()
        let record = KeyRecord(keyID: UUID().uuidString.lowercased(), createdAt: Date(), description: "", keySpec: .symmetricDefault,
                               keyUsage: .encryptDecrypt, origin: .awsKMS, state: .enabled, policy: "{}",
                               deletionDate: Date().addingTimeInterval(12345.6789), nextRotationDate: Date())
        try await store.insert(record, version: nil)
        let back = try #require(try await store.key(id: record.keyID))
        #expect(MetadataSeal.bytes(back) == MetadataSeal.bytes(record))
        var changed = back
        changed.policy = "{ }"
        #expect(MetadataSeal.bytes(changed) != MetadataSeal.bytes(record))
    }
}
