import PKCS11
import SoftHSMTestSupport
import Testing

@Suite("AES and HMAC keys")
struct SymmetricKeyTests {
    @Test(arguments: [128, 192, 256])
    func aesGCMRoundTrip(bits: Int) throws {
        try withFixture { f in
            let key = try f.session.generateKey(.aes(bits: bits), KeyOptions(usage: .encryptDecrypt))
            #expect(try f.session.ulongAttribute(.valueLength, of: key) == UInt(bits / 8))
            let plaintext = Array("attack at dawn, \(bits)".utf8)
            let aad = Array("context".utf8)
            let box = try f.session.aesGCMSeal(plaintext, key: key, aad: aad)
            #expect(box.iv.count == 12 && box.tag.count == 16 && box.ciphertext.count == plaintext.count)
            #expect(box.ciphertext != plaintext)
            #expect(try f.session.aesGCMOpen(box, key: key, aad: aad) == plaintext)
            // Another seal of the same plaintext uses a fresh IV.
            #expect(try f.session.aesGCMSeal(plaintext, key: key, aad: aad).iv != box.iv)
            // Wrong AAD or a flipped tag bit fails authentication.
            #expect(throws: PKCS11Error.self) { try f.session.aesGCMOpen(box, key: key, aad: Array("other".utf8)) }
            var tampered = box.tag
            tampered[0] ^= 1
            #expect(throws: PKCS11Error.self) {
                try f.session.aesGCMOpen(GCMSealedBox(iv: box.iv, ciphertext: box.ciphertext, tag: tampered), key: key, aad: aad)
            }
        }
    }

    @Test func emptyPlaintextSealsToATagAlone() throws {
        try withFixture { f in
            let key = try f.session.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt))
            let box = try f.session.aesGCMSeal([], key: key)
            #expect(box.ciphertext.isEmpty && box.tag.count == 16)
            #expect(try f.session.aesGCMOpen(box, key: key) == [])
        }
    }

    @Test(arguments: [
        (Mechanism.sha224HMAC, 28), (Mechanism.sha256HMAC, 32), (Mechanism.sha384HMAC, 48), (Mechanism.sha512HMAC, 64),
    ])
    func hmacSignAndVerify(mechanism: Mechanism, length: Int) throws {
        try withFixture { f in
            let key = try f.session.generateKey(.genericSecret(bytes: length), KeyOptions(usage: .signVerify))
            let message = Array("message to authenticate".utf8)
            let mac = try f.session.sign(message, key: key, mechanism: mechanism)
            #expect(mac.count == length)
            #expect(try f.session.sign(message, key: key, mechanism: mechanism) == mac)
            #expect(try f.session.verify(message, signature: mac, key: key, mechanism: mechanism))
            var bad = mac
            bad[bad.count - 1] ^= 0x80
            #expect(try !f.session.verify(message, signature: bad, key: key, mechanism: mechanism))
            #expect(try !f.session.verify(message + [0], signature: mac, key: key, mechanism: mechanism))
        }
    }

    @Test func hmacMatchesAKnownAnswer() throws {
        // RFC 4231 test case 6 through an imported key: the HSM computes HMAC-SHA-256.
        // (SoftHSM2 refuses HMAC keys shorter than the digest, so not case 2's "Jefe".)
        try withFixture { f in
            let key = try f.session.importSecretKey(.genericSecret, value: [UInt8](repeating: 0xAA, count: 131),
                                                    KeyOptions(usage: .signVerify))
            let mac = try f.session.sign(Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                                         key: key, mechanism: .sha256HMAC)
            #expect(mac == hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"))
        }
    }

    @Test func generateRandomDrawsFromTheToken() throws {
        try withFixture { f in
            let a = try f.session.generateRandom(count: 32)
            let b = try f.session.generateRandom(count: 32)
            #expect(a.count == 32 && b.count == 32 && a != b)
            #expect(try f.session.generateRandom(count: 0).isEmpty)
            #expect(try f.session.generateRandom(count: 1024).count == 1024)
        }
    }

    @Test func digestInTheToken() throws {
        try withFixture { f in
            let digest = try f.session.digest(Array("abc".utf8), mechanism: .sha256)
            #expect(digest == hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        }
    }
}
