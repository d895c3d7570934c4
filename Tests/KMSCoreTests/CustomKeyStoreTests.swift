import Foundation
@testable import KMSCore
import KMSModel
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Testing

/// Custom key stores as extra tokens (issue #17): two tokens in one engine,
/// keys on each, every operation on its key's token, disconnect and reconnect.
@Suite("Custom key stores")
struct CustomKeyStoreTests {
    static let admin = Principal(uid: 1000, gid: 1000)
    static let stranger = Principal(uid: 2000, gid: 2000)
    static let cluster = "cluster-secondtokenaa"
    /// Misconfigured: the daemon's own token.
    static let ownToken = "cluster-owntokenbbbbb"

    struct Setup {
        let main: TestToken
        let second: TestToken
        let pool: SessionPool
        let directory: String

        func start() async throws -> KMSEngine {
            let store = SealedMetadataStore(inner: try SQLiteMetadataStore(path: directory + "/metadata.sqlite"),
                                            sealer: try await HSMMetadataSealer(pool: pool), anchor: HSMMetadataAnchor(pool: pool))
            var configuration = KMSConfiguration(keyStorage: .wrapped)
            configuration.accessControl = AccessControl(admins: PrincipalSet(uids: [1000]), keyCreators: PrincipalSet(uids: [1000]))
            let (token, own) = (second.token, main.token)
            configuration.customKeyStoreTokens = CustomKeyStoreTokens(
                [CustomKeyStoreTests.cluster: { token }, CustomKeyStoreTests.ownToken: { own }], poolSize: 2)
            return try await KMSEngine(pool: pool, store: store, configuration: configuration)
        }

        /// Labels of the token objects of ours on `token`.
        func objects(on token: TestToken) throws -> [String] {
            let s = try token.openUserSession()
            defer { try? s.close() }
            return try s.findObjects([.token(true)]).map { try s.attribute(.label, of: $0).stringValue }
                .filter { $0.hasPrefix("p11kms/") || $0.hasPrefix("p11kms-kek/") }
        }
    }

    func setUp() throws -> Setup {
        let environment = try SoftHSMTestEnvironment.shared()
        let main = try environment.makeToken()
        let session = try main.openUserSession()
        try TokenSetup.ensureDomainKey(session)
        try TokenSetup.ensureSealKey(session)
        try session.close()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return Setup(main: main, second: try environment.makeToken(), pool: try main.makePool(), directory: directory)
    }

    func describe(_ engine: KMSEngine, _ id: String) async throws -> CustomKeyStoresListEntry {
        try #require(try await engine.describeCustomKeyStores(DescribeCustomKeyStoresRequest(customKeyStoreId: id),
                                                              caller: Self.admin).customKeyStores.first)
    }

    func encrypt(_ engine: KMSEngine, _ key: String, _ text: String) async throws -> Data {
        try await engine.encrypt(EncryptRequest(keyId: key, plaintext: Data(text.utf8)), caller: Self.admin).ciphertextBlob
    }

    func decrypt(_ engine: KMSEngine, _ blob: Data) async throws -> String {
        String(decoding: try await engine.decrypt(DecryptRequest(ciphertextBlob: blob), caller: Self.admin).plaintext, as: UTF8.self)
    }

    @Test func keysLiveAndWorkOnTheirOwnToken() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let engine = try await s.start()
        let create = CreateCustomKeyStoreRequest(customKeyStoreName: "second", cloudHsmClusterId: Self.cluster,
                                                 keyStorePassword: "not-the-pin")
        await expectKMSError(.accessDenied) { try await engine.createCustomKeyStore(create, caller: Self.stranger) }
        let id = try await engine.createCustomKeyStore(create, caller: Self.admin).customKeyStoreId
        #expect(id.hasPrefix("cks-") && id.count == 21)
        await expectKMSError(.customKeyStoreNameInUse) { try await engine.createCustomKeyStore(create, caller: Self.admin) }
        var other = create
        other.customKeyStoreName = "other"
        await expectKMSError(.cloudHsmClusterInUse) { try await engine.createCustomKeyStore(other, caller: Self.admin) }
        other.cloudHsmClusterId = "cluster-notconfiguredaa"
        await expectKMSError(.cloudHsmClusterNotFound) { try await engine.createCustomKeyStore(other, caller: Self.admin) }
        other.cloudHsmClusterId = "cluster-1"
        await expectKMSError(.validation) { try await engine.createCustomKeyStore(other, caller: Self.admin) }
        other.customKeyStoreType = .externalKeyStore
        await expectKMSError(.unsupportedOperation) { try await engine.createCustomKeyStore(other, caller: Self.admin) }

        // The password is in the database only encrypted.
        let raw = try await SQLiteMetadataStore(path: s.directory + "/metadata.sqlite").customKeyStores()
        #expect(raw.count == 1 && !Data(raw[0].encryptedPassword).contains(Data("not-the-pin".utf8)))

        // A wrong password: FAILED with INVALID_CREDENTIALS, and FAILED must be disconnected before retrying.
        #expect(try await describe(engine, id).connectionState == .disconnected)
        let inStore = CreateKeyRequest(origin: .awsCloudHSM)
        var request = inStore
        request.customKeyStoreId = id
        await expectKMSError(.customKeyStoreInvalidState) { try await engine.createKey(request, caller: Self.admin) }
        _ = try await engine.connectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        let failed = try await describe(engine, id)
        #expect(failed.connectionState == .failed && failed.connectionErrorCode == .invalidCredentials, "\(failed)")
        await expectKMSError(.customKeyStoreInvalidState) {
            try await engine.connectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        }
        _ = try await engine.disconnectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        _ = try await engine.updateCustomKeyStore(UpdateCustomKeyStoreRequest(customKeyStoreId: id, newCustomKeyStoreName: "second token",
                                                                             keyStorePassword: s.second.userPIN), caller: Self.admin)
        _ = try await engine.connectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        let connected = try await describe(engine, id)
        #expect(connected.connectionState == .connected && connected.connectionErrorCode == nil
                && connected.customKeyStoreName == "second token" && connected.cloudHsmClusterId == Self.cluster, "\(connected)")
        await expectKMSError(.customKeyStoreInvalidState, "the password changes only while disconnected") {
            try await engine.updateCustomKeyStore(UpdateCustomKeyStoreRequest(customKeyStoreId: id, keyStorePassword: "another1"),
                                                  caller: Self.admin)
        }

        // A key on each token; each one's material is on its own token only.
        let before = try s.objects(on: s.main)
        let home = try await engine.createKey(CreateKeyRequest(), caller: Self.admin).keyMetadata.keyId
        let away = try await engine.createKey(request, caller: Self.admin).keyMetadata
        #expect(away.origin == .awsCloudHSM && away.customKeyStoreId == id && away.cloudHsmClusterId == Self.cluster)
        #expect(try s.objects(on: s.second) == ["p11kms/\(away.keyId)/v1"])
        #expect(try s.objects(on: s.main).filter { !before.contains($0) } == ["p11kms-kek/\(home)"])
        await expectKMSError(.validation) { try await engine.createKey(inStore, caller: Self.admin) }
        var rsa = request
        rsa.keySpec = .rsa2048
        rsa.keyUsage = .encryptDecrypt
        await expectKMSError(.unsupportedOperation) { try await engine.createKey(rsa, caller: Self.admin) }
        await expectKMSError(.unsupportedOperation) {
            try await engine.rotateKeyOnDemand(KeyIdRequest(keyId: away.keyId), caller: Self.admin)
        }

        let homeBlob = try await encrypt(engine, home, "home")
        let awayBlob = try await encrypt(engine, away.keyId, "away")
        #expect(try await decrypt(engine, awayBlob) == "away")
        let random = try await engine.generateRandom(GenerateRandomRequest(numberOfBytes: 16, customKeyStoreId: id), caller: Self.admin)
        #expect(random.plaintext.count == 16)

        // Disconnected: its keys refuse use, the others go on; it cannot be deleted while it holds keys.
        _ = try await engine.disconnectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        await expectKMSError(.kmsInvalidState) { try await decrypt(engine, awayBlob) }
        await expectKMSError(.customKeyStoreInvalidState) {
            try await engine.generateRandom(GenerateRandomRequest(numberOfBytes: 16, customKeyStoreId: id), caller: Self.admin)
        }
        #expect(try await decrypt(engine, homeBlob) == "home")
        await expectKMSError(.customKeyStoreHasCMKs) {
            try await engine.deleteCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        }
        await expectKMSError(.customKeyStoreInvalidState) {
            try await engine.disconnectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        }

        // Reconnected, and connected again by itself after a restart.
        _ = try await engine.connectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        #expect(try await decrypt(engine, awayBlob) == "away")
        await engine.closeCustomKeyStores()
        let restarted = try await s.start()
        #expect(try await describe(restarted, id).connectionState == .connected)
        #expect(try await decrypt(restarted, awayBlob) == "away")
        #expect(try await decrypt(restarted, homeBlob) == "home")
        #expect(await restarted.health().metadataTampered.isEmpty)
        await restarted.closeCustomKeyStores()
    }

    /// Its keys' objects would be taken for orphans of the daemon's own token.
    @Test func theDaemonsOwnTokenIsRefusedAsACustomKeyStore() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let engine = try await s.start()
        let id = try await engine.createCustomKeyStore(
            CreateCustomKeyStoreRequest(customKeyStoreName: "own", cloudHsmClusterId: Self.ownToken, keyStorePassword: s.main.userPIN),
            caller: Self.admin).customKeyStoreId
        _ = try await engine.connectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        let entry = try await describe(engine, id)
        #expect(entry.connectionState == .failed && entry.connectionErrorCode == .internalError, "\(entry)")
    }

    @Test func anEmptyDisconnectedStoreIsDeletedAndNamesAreCheckedOnUpdate() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let engine = try await s.start()
        let id = try await engine.createCustomKeyStore(
            CreateCustomKeyStoreRequest(customKeyStoreName: "gone", cloudHsmClusterId: Self.cluster, keyStorePassword: s.second.userPIN),
            caller: Self.admin).customKeyStoreId
        _ = try await engine.connectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        await expectKMSError(.customKeyStoreInvalidState, "connected: not deleted") {
            try await engine.deleteCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        }
        _ = try await engine.disconnectCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        _ = try await engine.deleteCustomKeyStore(CustomKeyStoreIdRequest(customKeyStoreId: id), caller: Self.admin)
        await expectKMSError(.customKeyStoreNotFound) { try await describe(engine, id) }
        #expect(try await engine.describeCustomKeyStores(DescribeCustomKeyStoresRequest(), caller: Self.admin).customKeyStores.isEmpty)
    }
}
