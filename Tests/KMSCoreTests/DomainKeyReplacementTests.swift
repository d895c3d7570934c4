import Foundation
@testable import KMSCore
import KMSModel
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Testing

/// `p11kmsd --replace-domain-key` (issue #14: existing domain keys are
/// migrated): keys made before per-key KEKs under a domain key without an
/// unwrap template, whose blobs a PIN holder could unwrap into readable
/// material, are re-wrapped under KEKs of their own and the domain key is
/// replaced by one that enforces the template. Nothing is lost on the way.
@Suite("Domain key replacement")
struct DomainKeyReplacementTests {
    static let caller = Principal(uid: 1000, gid: 1000)

    struct Setup {
        let token: TestToken
        let pool: SessionPool
        let directory: String
        var path: String { directory + "/metadata.sqlite" }

        func start(legacy: Bool = false, replace: Bool = false) async throws -> KMSEngine {
            let store = SealedMetadataStore(inner: try SQLiteMetadataStore(path: path), sealer: try await HSMMetadataSealer(pool: pool),
                                            anchor: HSMMetadataAnchor(pool: pool))
            var configuration = KMSConfiguration(keyStorage: .wrapped)
            configuration.accessControl = AccessControl(keyCreators: PrincipalSet(uids: [1000]))
            configuration.allowUnenforcedUnwrapTemplate = legacy
            configuration.makeKEKs = !legacy
            configuration.replaceUnenforcedDomainKey = replace
            return try await KMSEngine(pool: pool, store: store, configuration: configuration)
        }
    }

    /// A token as before issue #14: a domain key with no templates.
    func setUp() throws -> Setup {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let session = try token.openUserSession()
        _ = try session.generateKey(.aes(bits: 256), KeyOptions(usage: [.wrap, .unwrap], token: true, label: TokenSetup.domainKeyLabel))
        try TokenSetup.ensureSealKey(session)
        try session.close()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("domainkey-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return Setup(token: token, pool: try token.makePool(), directory: directory)
    }

    static let extracting: [Attribute] = [.class(.secretKey), .keyType(.aes), .token(false), .private(true),
                                          .sensitive(false), .extractable(true), Attribute(.encrypt, bool: true)]

    /// Whether a PIN holder can unwrap `blob` under the object labelled `label` into readable material.
    func extractable(_ s: Setup, _ blob: [UInt8], under label: String) throws -> Bool {
        let session = try s.token.openUserSession()
        defer { try? session.close() }
        guard let wrapping = try session.findObjects([.class(.secretKey), .label(label)]).first else { return false }
        let wrap = try TokenProfile.probe(session, slot: s.token.token.slot).rfc5649WrapMechanism()
        guard let h = try? session.unwrapKey(blob, with: wrapping, mechanism: wrap, template: Self.extracting) else { return false }
        return (try? session.attribute(.value, of: h).value.count) == 32
    }

    func labels(_ s: Setup) throws -> [String] {
        let session = try s.token.openUserSession()
        defer { try? session.close() }
        return try session.findObjects([.class(.secretKey), .token(true)]).map { try session.attribute(.label, of: $0).stringValue }
    }

    @Test func legacyKeysAreRewrappedAndTheDomainKeyReplacedWithNothingLost() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let legacy = try await s.start(legacy: true)
        #expect(legacy.unwrapEnforcement?.isEnforced == false)
        let symmetric = try await legacy.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        let before = try await legacy.encrypt(EncryptRequest(keyId: symmetric, plaintext: Data("v1".utf8)), caller: Self.caller)
        _ = try await legacy.rotateKeyOnDemand(KeyIdRequest(keyId: symmetric), caller: Self.caller)
        let after = try await legacy.encrypt(EncryptRequest(keyId: symmetric, plaintext: Data("v2".utf8)), caller: Self.caller)
        let signing = try await legacy.createKey(CreateKeyRequest(keyUsage: .signVerify, keySpec: .eccNistP256), caller: Self.caller)
            .keyMetadata.keyId
        let message = Data("signed before".utf8)
        let signature = try await legacy.sign(SignRequest(keyId: signing, message: message, signingAlgorithm: .ecdsaSHA256),
                                              caller: Self.caller).signature
        let raw = try SQLiteMetadataStore(path: s.path)
        let oldBlob = try #require(try await raw.version(keyID: symmetric, version: 1)?.wrappedKey)
        #expect(try extractable(s, oldBlob, under: TokenSetup.domainKeyLabel), "the hole: a PIN holder reads the key")
        #expect(try !labels(s).contains { $0.hasPrefix("p11kms-kek/") }, "keys as before per-key KEKs")

        // Without the flag the daemon still refuses; with it, it migrates.
        await #expect(throws: KMSError.self) { _ = try await s.start() }
        let migrated = try await s.start(replace: true)
        let replacement = try #require(migrated.domainKeyReplacement)
        #expect(replacement.replaced && replacement.keysRewrapped.sorted() == [signing, symmetric].sorted(), "\(replacement)")
        #expect(migrated.unwrapEnforcement == .enforced)
        #expect(try await migrated.decrypt(DecryptRequest(ciphertextBlob: before.ciphertextBlob), caller: Self.caller).plaintext
                == Data("v1".utf8))
        #expect(try await migrated.decrypt(DecryptRequest(ciphertextBlob: after.ciphertextBlob), caller: Self.caller).plaintext
                == Data("v2".utf8))
        #expect(try await migrated.verify(VerifyRequest(keyId: signing, message: message, signature: signature,
                                                        signingAlgorithm: .ecdsaSHA256), caller: Self.caller).signatureValid)

        // The hole is closed: the old blob no longer opens, the new one does not extract.
        let newBlob = try #require(try await raw.version(keyID: symmetric, version: 1)?.wrappedKey)
        #expect(newBlob != oldBlob)
        #expect(try !extractable(s, oldBlob, under: TokenSetup.domainKeyLabel))
        #expect(try !extractable(s, newBlob, under: "p11kms-kek/" + symmetric))
        let names = try labels(s)
        #expect(names.filter { $0 == TokenSetup.domainKeyLabel }.count == 1 && !names.contains { $0.contains("pending") || $0.hasSuffix("-next") },
                "\(names)")

        // A restart without the flag serves, with the metadata anchor intact.
        let restarted = try await s.start()
        #expect(restarted.domainKeyReplacement == nil)
        #expect(await restarted.health().metadataTampered.isEmpty)
        #expect(try await restarted.decrypt(DecryptRequest(ciphertextBlob: before.ciphertextBlob), caller: Self.caller).plaintext
                == Data("v1".utf8))
    }

    /// A crash after the re-wrapped blobs were committed and before their
    /// KEK was adopted: the next run finds the pending KEK opens the blobs.
    @Test func aCrashBeforeTheKEKIsAdoptedIsResumed() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let legacy = try await s.start(legacy: true)
        let keyID = try await legacy.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        let blob = try await legacy.encrypt(EncryptRequest(keyId: keyID, plaintext: Data("kept".utf8)), caller: Self.caller)
        let key = try #require(try await legacy.store.key(id: keyID))
        let (rewrapped, _) = try await legacy.vault.rewrapUnderNewKEK(
            keyID: keyID, versions: try await legacy.store.versions(keyID: keyID), spec: key.keySpec, usage: key.keyUsage)
        try await legacy.store.replaceWrappedKeys(rewrapped)   // ... and the process dies here.
        #expect(try labels(s).contains("p11kms-kek-pending/" + keyID))

        let migrated = try await s.start(replace: true)
        #expect(migrated.domainKeyReplacement?.replaced == true)
        #expect(try await migrated.decrypt(DecryptRequest(ciphertextBlob: blob.ciphertextBlob), caller: Self.caller).plaintext
                == Data("kept".utf8))
        #expect(try labels(s).contains("p11kms-kek/" + keyID))
    }
}
