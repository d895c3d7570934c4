import PKCS11
import SoftHSMTestSupport
import Testing

@Suite("Sensitive keys stay in the HSM; wrap and unwrap")
struct KeyProtectionTests {
    @Test func generatedKeysAreSensitiveAndNeverExtractable() throws {
        try withFixture { f in
            let aes = try f.session.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt))
            let hmac = try f.session.generateKey(.genericSecret(bytes: 32), KeyOptions(usage: .signVerify))
            let rsa = try f.session.generateKeyPair(.rsa(bits: 2048), KeyOptions(usage: .signVerify))
            let ec = try f.session.generateKeyPair(.ec(.p256), KeyOptions(usage: .signVerify))
            let ed = try f.session.generateKeyPair(.ed25519, KeyOptions(usage: .signVerify))
            let wrapping = try f.session.generateKey(.aes(bits: 256), KeyOptions(usage: .wrapUnwrap))
            let profile = try TokenProfile.probe(f.session, slot: f.token.token.slot)
            let wrap = try profile.rfc5649WrapMechanism()

            let secrets: [(ObjectHandle, AttributeType)] = [
                (aes, .value), (hmac, .value), (rsa.privateKey, .privateExponent),
                (ec.privateKey, .value), (ed.privateKey, .value),
            ]
            for (key, secretAttribute) in secrets {
                #expect(try f.session.boolAttribute(.sensitive, of: key))
                #expect(try !f.session.boolAttribute(.extractable, of: key))
                #expect(try f.session.boolAttribute(.neverExtractable, of: key))
                // The secret value cannot be read...
                let read = #expect(throws: PKCS11Error.self) { try f.session.attribute(secretAttribute, of: key) }
                #expect(read?.code == .attributeSensitive)
                // ...nor can the key be wrapped out.
                let wrapped = #expect(throws: PKCS11Error.self) { try f.session.wrapKey(key, with: wrapping, mechanism: wrap) }
                #expect(wrapped?.code == .keyUnextractable)
                // Nor made extractable afterwards (PKCS#11: extractable may only go true → false).
                #expect(throws: PKCS11Error.self) { try f.session.setAttributes([.extractable(true)], of: key) }
            }
        }
    }

    @Test func rfc5649WrapUnwrapKeepsTheUnwrappedKeyLocked() throws {
        try withFixture { f in
            let profile = try TokenProfile.probe(f.session, slot: f.token.token.slot)
            let wrap = try profile.rfc5649WrapMechanism()
            #expect(wrap.type == .aesKeyWrapPad, "SoftHSM2 puts RFC 5649 on CKM_AES_KEY_WRAP_PAD")
            let domain = try f.session.generateKey(.aes(bits: 256), KeyOptions(usage: .wrapUnwrap))
            // The wrapped-storage pattern: born extractable, wrapped at once, then locked.
            var options = KeyOptions(usage: .signVerify)
            options.extractable = true
            let hmac = try f.session.generateKey(.genericSecret(bytes: 32), options)
            let blob = try f.session.wrapKey(hmac, with: domain, mechanism: wrap)
            #expect(blob.count == 40)
            try f.session.setAttributes([.extractable(false)], of: hmac)
            #expect(try !f.session.boolAttribute(.extractable, of: hmac))

            let restored = try f.session.unwrapKey(blob, with: domain, mechanism: wrap, template: [
                .class(.secretKey), .keyType(.genericSecret), .token(false), .sensitive(true), .extractable(false),
                Attribute(.sign, bool: true), Attribute(.verify, bool: true),
            ])
            #expect(try !f.session.boolAttribute(.extractable, of: restored))
            let message = Array("same key, same MAC".utf8)
            #expect(try f.session.sign(message, key: hmac, mechanism: .sha256HMAC)
                == f.session.sign(message, key: restored, mechanism: .sha256HMAC))

            // A tampered blob does not unwrap.
            var tampered = blob
            tampered[5] ^= 1
            #expect(throws: PKCS11Error.self) {
                try f.session.unwrapKey(tampered, with: domain, mechanism: wrap,
                                        template: [.class(.secretKey), .keyType(.genericSecret), .token(false)])
            }
        }
    }

    @Test func rsaOAEPWrapsAnAESKey() throws {
        try withFixture { f in
            let pair = try f.session.generateKeyPair(.rsa(bits: 2048), KeyOptions(usage: .wrapUnwrap))
            var options = KeyOptions(usage: .encryptDecrypt)
            options.extractable = true
            let aes = try f.session.generateKey(.aes(bits: 256), options)
            let blob = try f.session.wrapKey(aes, with: pair.publicKey, mechanism: .rsaOAEP(.sha1))
            #expect(blob.count == 256)
            let restored = try f.session.unwrapKey(blob, with: pair.privateKey, mechanism: .rsaOAEP(.sha1), template: [
                .class(.secretKey), .keyType(.aes), .token(false), .sensitive(true), .extractable(false),
                Attribute(.encrypt, bool: true), Attribute(.decrypt, bool: true),
            ])
            let box = try f.session.aesGCMSeal(Array("hello".utf8), key: aes)
            #expect(try f.session.aesGCMOpen(box, key: restored) == Array("hello".utf8))
        }
    }

    @Test func tokenObjectsCarryLabelAndID() throws {
        try withFixture { f in
            var options = KeyOptions(usage: .encryptDecrypt, token: true, label: "p11kms/test/v1", id: [1, 2, 3])
            options.extra = []
            let key = try f.session.generateKey(.aes(bits: 256), options)
            #expect(try f.session.boolAttribute(.token, of: key))
            #expect(try f.session.boolAttribute(.private, of: key))
            #expect(try f.session.attribute(.label, of: key).stringValue == "p11kms/test/v1")
            #expect(try f.session.attribute(.id, of: key).value == [1, 2, 3])
            #expect(try f.session.findObjects([.label("p11kms/test/v1")]) == [key])
        }
    }
}
