import Foundation
@testable import KMSCore
import KMSModel
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Testing

/// A PIN holder with a version's wrapped blob (from the metadata store)
/// cannot unwrap it into readable key material (issue #14, finding 1).
@Suite("The domain key's unwrap template")
struct UnwrapTemplateTests {
    static let extracting: [Attribute] = [.class(.secretKey), .keyType(.aes), .token(false), .private(true),
                                          .sensitive(false), .extractable(true), Attribute(.encrypt, bool: true)]

    @Test func aPINHolderCannotUnwrapAVersionIntoAnExtractableObject() async throws {
        let f = try await EngineFixture.make(.wrapped)
        defer { Task { await f.shutdown() } }
        let key = try await f.createKey()
        let version = try #require(try await f.store.version(keyID: key.keyId, version: 1))
        let blob = try #require(version.wrappedKey)
        #expect(f.engine.unwrapEnforcement == .enforced)

        let s = try f.token.openUserSession()
        defer { try? s.close() }
        let domain = try #require(try s.findObjects([.class(.secretKey), .label(TokenSetup.domainKeyLabel)]).first)
        let wrap = try f.engine.profile.rfc5649WrapMechanism()
        let refused = #expect(throws: PKCS11Error.self) {
            let h = try s.unwrapKey(blob, with: domain, mechanism: wrap, template: Self.extracting)
            // Had it worked, this is the key in plaintext.
            _ = try? s.attribute(.value, of: h)
        }
        #expect(refused?.code == .templateInconsistent, "\(String(describing: refused))")
        // The daemon's own unwrap (sensitive, non-extractable) still works.
        let blobText = try await f.encrypt(key.keyId, "still usable")
        #expect(try await f.decrypt(blobText) == "still usable")
    }

    /// A domain key made before the template existed: the probe says so,
    /// wrapped storage refuses to start unless opted into by name, and
    /// /health reports it.
    @Test func anOldDomainKeyIsFoundRefusedAndUpgraded() async throws {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let setup = try token.openUserSession()
        // The old domain key: wrap/unwrap, no templates.
        _ = try setup.generateKey(.aes(bits: 256), KeyOptions(usage: [.wrap, .unwrap], token: true,
                                                              label: TokenSetup.domainKeyLabel))
        let wrap = try TokenProfile.probe(setup, slot: token.token.slot).rfc5649WrapMechanism()
        let domain = try #require(try setup.findObjects([.label(TokenSetup.domainKeyLabel)]).first)
        guard case .notEnforced = try TokenSetup.probeUnwrapEnforcement(setup, domainKey: domain, mechanism: wrap) else {
            Issue.record("an unwrap template was enforced on a key without one"); return
        }
        let storeDir = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-unwrap-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: storeDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: storeDir) }

        let pool = try token.makePool(maxSessions: 2)
        defer { Task { try? await pool.shutdown() } }
        let refused = await #expect(throws: KMSError.self) {
            _ = try await KMSEngine(pool: pool, store: try SQLiteMetadataStore(path: storeDir + "/a.sqlite"),
                                    configuration: KMSConfiguration(keyStorage: .wrapped))
        }
        #expect(refused?.message.contains("allow_unenforced_unwrap_template") == true, "\(String(describing: refused))")

        var optedIn = KMSConfiguration(keyStorage: .wrapped)
        optedIn.allowUnenforcedUnwrapTemplate = true
        let engine = try await KMSEngine(pool: pool, store: try SQLiteMetadataStore(path: storeDir + "/b.sqlite"),
                                         configuration: optedIn)
        #expect(await engine.health().unwrapTemplateEnforced == false)

        // SoftHSM 2.6.1 makes CKA_UNWRAP_TEMPLATE read-only once the key
        // exists (CKR_ATTRIBUTE_READ_ONLY), so the upgrade in place says so;
        // replacing the key means re-wrapping every version (not built yet).
        let upgrade = #expect(throws: PKCS11UsageError.self) { try TokenSetup.upgradeDomainKey(setup, mechanism: wrap) }
        #expect(upgrade?.description.contains("re-wrapped") == true, "\(String(describing: upgrade))")
        try setup.close()
    }
}
