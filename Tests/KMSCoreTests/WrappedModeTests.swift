import Foundation
@testable import KMSCore
import KMSModel
import PKCS11
import Testing

/// The bounded cache of unwrapped keys in `wrapped` mode, and what the HSM
/// lets anyone do with our key objects in either mode (DESIGN.md §3).
struct WrappedModeTests {
    /// Our secret and private key objects among `objects`, with their handles.
    private static func keyObjects(_ session: Session, _ objects: [ObjectHandle]) throws -> [ObjectHandle] {
        try objects.filter {
            let cls = ObjectClass(rawValue: try session.ulongAttribute(.class, of: $0))
            return cls == .secretKey || cls == .privateKey
        }
    }

    @Test func cacheStaysBoundedAndEveryKeyKeepsWorking() async throws {
        try await withEngine(.wrapped, configure: { $0.cacheCapacity = 3 }) { f in
            var symmetric: [String] = []
            for _ in 0..<8 { symmetric.append(try await f.createKey().keyId) }
            var signers: [String] = []
            for _ in 0..<3 { signers.append(try await f.createKey(.eccNistP256, usage: .signVerify).keyId) }

            var blobs: [(Data, String)] = []
            for round in 0..<3 {
                for (i, key) in symmetric.enumerated() {
                    let text = "round \(round), key \(i)"
                    blobs.append((try await f.encrypt(key, text, context: ["key": "\(i)"]), text))
                }
            }
            for (i, (blob, text)) in blobs.enumerated() {
                #expect(try await f.decrypt(blob, context: ["key": "\(i % symmetric.count)"]) == text)
            }
            for key in signers {
                let message = Data("signed by \(key)".utf8)
                let signature = try await f.engine.sign(
                    SignRequest(keyId: key, message: message, signingAlgorithm: .ecdsaSHA256), caller: f.caller).signature
                #expect(try await f.engine.verify(
                    VerifyRequest(keyId: key, message: message, signature: signature, signingAlgorithm: .ecdsaSHA256),
                    caller: f.caller).signatureValid)
                // Another EC key's signature does not verify under this one.
                let otherKey = signers.first { $0 != key }!
                await expectKMSError(.kmsInvalidSignature) {
                    try await f.engine.verify(
                        VerifyRequest(keyId: otherKey, message: message, signature: signature, signingAlgorithm: .ecdsaSHA256),
                        caller: f.caller)
                }
            }

            let stats = f.engine.cacheStatistics
            #expect(stats.size <= 3)
            #expect(stats.misses > 0)
            // Evicted copies are destroyed, not leaked: the token holds at
            // most as many unwrapped key objects as the cache.
            let session = try f.token.openUserSession()
            defer { try? session.close() }
            let live = try Self.keyObjects(session, try session.findObjects([.token(false)]))
            #expect(live.count <= 3, "\(live.count) session key objects for a cache of 3")
        }
    }

    @Test func noSessionKeyObjectIsExtractable() async throws {
        try await withEngine(.wrapped) { f in
            let symmetric = try await f.createKey().keyId
            let ec = try await f.createKey(.eccNistP256, usage: .signVerify).keyId
            let rsa = try await f.createKey(.rsa2048, usage: .encryptDecrypt).keyId
            let hmac = try await f.createKey(.hmac256, usage: .generateVerifyMac).keyId
            // An imported key passes through an extractable object on its way to the wrapped blob.
            let imported = try await f.createKey(.symmetricDefault, origin: .external).keyId
            let parameters = try await ImportHelpers.parameters(f, imported, .rsaesOAEPSHA1)
            try await ImportHelpers.importMaterial(
                f, imported, parameters, try ImportHelpers.wrapOAEPSHA1(ImportHelpers.randomBytes(32), to: parameters.publicKey))

            // Use every key, so copies unwrapped from the store exist too.
            #expect(try await f.decrypt(try await f.encrypt(symmetric, "s")) == "s")
            #expect(try await f.decrypt(try await f.encrypt(imported, "i")) == "i")
            _ = try await f.engine.sign(SignRequest(keyId: ec, message: Data("m".utf8), signingAlgorithm: .ecdsaSHA256),
                                        caller: f.caller)
            let rsaBlob = try await f.engine.encrypt(
                EncryptRequest(keyId: rsa, plaintext: Data("r".utf8), encryptionAlgorithm: .rsaesOAEPSHA1), caller: f.caller)
            _ = try await f.engine.decrypt(
                DecryptRequest(ciphertextBlob: rsaBlob.ciphertextBlob, keyId: rsa, encryptionAlgorithm: .rsaesOAEPSHA1),
                caller: f.caller)
            _ = try await f.engine.generateMac(GenerateMacRequest(keyId: hmac, message: Data("m".utf8), macAlgorithm: .hmacSHA256),
                                               caller: f.caller)

            let session = try f.token.openUserSession()
            defer { try? session.close() }
            let keys = try Self.keyObjects(session, try session.findObjects([.token(false)]))
            // Born copies of the four generated keys plus at least the imported key's unwrapped copy.
            #expect(keys.count >= 5)
            for object in keys {
                let a = try session.attributes([.extractable, .sensitive], of: object)
                #expect(a[0].boolValue == false, "a session key object is extractable")
                #expect(a[1].boolValue == true, "a session key object is not sensitive")
            }
            // In wrapped mode no key material of ours is a token object.
            #expect(try f.ourTokenObjects().isEmpty)
        }
    }

    @Test func tokenObjectsAndDomainKeyAreLockedDown() async throws {
        try await withEngine(.token) { f in
            _ = try await f.createKey()
            _ = try await f.createKey(.eccNistP256, usage: .signVerify)
            _ = try await f.createKey(.rsa2048, usage: .encryptDecrypt)
            _ = try await f.createKey(.hmac256, usage: .generateVerifyMac)
            let imported = try await f.createKey(.symmetricDefault, origin: .external).keyId
            let parameters = try await ImportHelpers.parameters(f, imported, .rsaesOAEPSHA1)
            try await ImportHelpers.importMaterial(
                f, imported, parameters, try ImportHelpers.wrapOAEPSHA1(ImportHelpers.randomBytes(32), to: parameters.publicKey))

            let session = try f.token.openUserSession()
            defer { try? session.close() }
            var checked = 0
            for object in try session.findObjects([.token(true)]) {
                let label = try session.attribute(.label, of: object).stringValue
                guard label.hasPrefix("p11kms/") else { continue }
                let cls = ObjectClass(rawValue: try session.ulongAttribute(.class, of: object))
                guard cls == .secretKey || cls == .privateKey else { continue }
                let a = try session.attributes([.extractable, .sensitive, .private], of: object)
                #expect(a[0].boolValue == false, "\(label) is extractable")
                #expect(a[1].boolValue == true, "\(label) is not sensitive")
                #expect(a[2].boolValue == true, "\(label) is not private")
                checked += 1
            }
            // Symmetric, EC private, RSA private, HMAC, imported.
            #expect(checked == 5)

            let domain = try session.findObjects([.class(.secretKey), .token(true), .label("p11kms-domain-key")])
            try #require(domain.count == 1)
            let a = try session.attributes([.extractable, .sensitive, .private, .wrap, .unwrap, .encrypt, .decrypt, .sign,
                                            .verify], of: domain[0])
            #expect(a[0].boolValue == false, "domain key extractable")
            #expect(a[1].boolValue == true, "domain key sensitive")
            #expect(a[2].boolValue == true, "domain key private")
            #expect(a[3].boolValue == true, "domain key wraps")
            #expect(a[4].boolValue == true, "domain key unwraps")
            #expect(a[5].boolValue == false, "domain key must not encrypt")
            #expect(a[6].boolValue == false, "domain key must not decrypt")
            #expect(a[7].boolValue == false, "domain key must not sign")
            #expect(a[8].boolValue == false, "domain key must not verify")
        }
    }
}
