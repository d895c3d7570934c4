import Crypto
import _CryptoExtras
import Foundation
import PKCS11
import SoftHSMTestSupport
import Testing

/// Every signature made in the HSM is checked outside it (swift-crypto, or
/// the OpenSSL command line for secp256k1) from the exported public key.
@Suite("RSA, EC and Ed25519 key pairs")
struct AsymmetricKeyTests {
    static let message = Array("The quick brown fox jumps over the lazy dog".utf8)

    @Test(arguments: [2048, 3072, 4096])
    func rsaSignaturesVerifyOutsideTheHSM(bits: Int) throws {
        try withFixture { f in
            let pair = try f.session.generateKeyPair(.rsa(bits: bits), KeyOptions(usage: [.sign, .verify]))
            #expect(try f.session.ulongAttribute(.modulusBits, of: pair.publicKey) == UInt(bits))
            let spki = try f.session.subjectPublicKeyInfo(of: pair.publicKey)
            let publicKey = try _RSA.Signing.PublicKey(derRepresentation: spki)
            #expect(publicKey.keySizeInBits == bits)

            // Hash-and-sign PKCS#1 v1.5.
            let pkcs1: [(Mechanism, any Digest)] = [
                (.sha256RSAPKCS, SHA256.hash(data: Self.message)),
                (.sha384RSAPKCS, SHA384.hash(data: Self.message)),
                (.sha512RSAPKCS, SHA512.hash(data: Self.message)),
            ]
            for (mechanism, digest) in pkcs1 {
                let signature = try f.session.sign(Self.message, key: pair.privateKey, mechanism: mechanism)
                #expect(signature.count == bits / 8)
                #expect(publicKey.isValid(signature, digest: digest, padding: .insecurePKCS1v1_5), "\(mechanism)")
                #expect(try f.session.verify(Self.message, signature: signature, key: pair.publicKey, mechanism: mechanism))
            }

            // PKCS#1 v1.5 over a DigestInfo the caller built (CKM_RSA_PKCS).
            let digest = SHA256.hash(data: Self.message)
            let digestInfo = hex("3031300d060960864801650304020105000420") + Array(digest)
            let overDigestInfo = try f.session.sign(digestInfo, key: pair.privateKey, mechanism: .rsaPKCS)
            #expect(publicKey.isValid(overDigestInfo, digest: digest, padding: .insecurePKCS1v1_5))

            // RSA-PSS with salt = digest length.
            let pss: [(Mechanism, any Digest)] = [
                (.sha256RSAPKCSPSS(), SHA256.hash(data: Self.message)),
                (.sha384RSAPKCSPSS(), SHA384.hash(data: Self.message)),
                (.sha512RSAPKCSPSS(), SHA512.hash(data: Self.message)),
            ]
            for (mechanism, digest) in pss {
                let signature = try f.session.sign(Self.message, key: pair.privateKey, mechanism: mechanism)
                #expect(publicKey.isValid(signature, digest: digest, padding: .PSS), "\(mechanism)")
                #expect(try f.session.verify(Self.message, signature: signature, key: pair.publicKey, mechanism: mechanism))
            }
            // PSS over a precomputed digest (CKM_RSA_PKCS_PSS).
            let overDigest = try f.session.sign(Array(digest), key: pair.privateKey, mechanism: .rsaPKCSPSS(.sha256))
            #expect(publicKey.isValid(overDigest, digest: digest, padding: .PSS))
        }
    }

    @Test func rsaOAEPCiphertextFromOutsideDecryptsInside() throws {
        try withFixture { f in
            let profile = try TokenProfile.probe(f.session, slot: f.token.token.slot)
            let pair = try f.session.generateKeyPair(.rsa(bits: 2048), KeyOptions(usage: .encryptDecrypt))
            let spki = try f.session.subjectPublicKeyInfo(of: pair.publicKey)
            let outside = try _RSA.Encryption.PublicKey(derRepresentation: spki)
            let secret = Array("a data key, 32 bytes long!!!!!!!".utf8)

            let sha1 = try outside.encrypt(secret, padding: .PKCS1_OAEP)
            #expect(try f.session.decrypt(Array(sha1), key: pair.privateKey, mechanism: .rsaOAEP(.sha1)) == secret)
            // And inside → inside.
            let inside = try f.session.encrypt(secret, key: pair.publicKey, mechanism: .rsaOAEP(.sha1))
            #expect(try f.session.decrypt(inside, key: pair.privateKey, mechanism: .rsaOAEP(.sha1)) == secret)

            let sha256 = Array(try outside.encrypt(secret, padding: .PKCS1_OAEP_SHA256))
            if profile.supportsOAEP(.sha256) {
                #expect(try f.session.decrypt(sha256, key: pair.privateKey, mechanism: .rsaOAEP(.sha256)) == secret)
            } else {
                // SoftHSM 2.6 takes OAEP with SHA-1 only; the token says so with an error, not wrong output.
                #expect(throws: PKCS11Error.self) {
                    try f.session.decrypt(sha256, key: pair.privateKey, mechanism: .rsaOAEP(.sha256))
                }
            }
            // Raw RSA recovers the OAEP-encoded block (leading 0x00, modulus length),
            // which is what a caller unpads itself where the token lacks OAEP-SHA-256.
            let block = try f.session.decrypt(sha256, key: pair.privateKey, mechanism: .rsaX509Raw)
            #expect(block.count == 256 && block[0] == 0)
        }
    }

    @Test func rawRSARoundTrip() throws {
        try withFixture { f in
            let pair = try f.session.generateKeyPair(.rsa(bits: 2048), KeyOptions(usage: .encryptDecrypt))
            var block = try f.session.generateRandom(count: 256)
            block[0] = 0 // below the modulus
            let encrypted = try f.session.encrypt(block, key: pair.publicKey, mechanism: .rsaX509Raw)
            #expect(encrypted != block)
            #expect(try f.session.decrypt(encrypted, key: pair.privateKey, mechanism: .rsaX509Raw) == block)
        }
    }

    @Test(arguments: [NamedCurve.p256, .p384, .p521])
    func ecdsaSignaturesVerifyWithSwiftCrypto(curve: NamedCurve) throws {
        try withFixture { f in
            let pair = try f.session.generateKeyPair(.ec(curve), KeyOptions(usage: .signVerify))
            let spki = try f.session.subjectPublicKeyInfo(of: pair.publicKey)
            let digest: [UInt8]
            switch curve {
            case .p256: digest = Array(SHA256.hash(data: Self.message))
            case .p384: digest = Array(SHA384.hash(data: Self.message))
            default: digest = Array(SHA512.hash(data: Self.message))
            }
            let raw = try f.session.sign(digest, key: pair.privateKey, mechanism: .ecdsa)
            #expect(raw.count == 2 * curve.coordinateByteCount)
            let der = try ECDSASignature.derSignature(fromRaw: raw)
            #expect(try ECDSASignature.rawSignature(fromDER: der, coordinateByteCount: curve.coordinateByteCount) == raw)
            let valid: Bool
            switch curve {
            case .p256:
                valid = try P256.Signing.PublicKey(derRepresentation: spki).isValidSignature(
                    P256.Signing.ECDSASignature(derRepresentation: der), for: SHA256.hash(data: Self.message))
            case .p384:
                valid = try P384.Signing.PublicKey(derRepresentation: spki).isValidSignature(
                    P384.Signing.ECDSASignature(derRepresentation: der), for: SHA384.hash(data: Self.message))
            default:
                valid = try P521.Signing.PublicKey(derRepresentation: spki).isValidSignature(
                    P521.Signing.ECDSASignature(derRepresentation: der), for: SHA512.hash(data: Self.message))
            }
            #expect(valid)
            #expect(try f.session.verify(digest, signature: raw, key: pair.publicKey, mechanism: .ecdsa))
            var bad = raw
            bad[0] ^= 1
            #expect(try !f.session.verify(digest, signature: bad, key: pair.publicKey, mechanism: .ecdsa))
        }
    }

    @Test func secp256k1SignatureVerifiesWithOpenSSL() async throws {
        let digest = Array(SHA256.hash(data: Self.message))
        let (spki, der) = try withFixture { f in
            let pair = try f.session.generateKeyPair(.ec(.secp256k1), KeyOptions(usage: .signVerify))
            return (try f.session.subjectPublicKeyInfo(of: pair.publicKey),
                    try ECDSASignature.derSignature(fromRaw: f.session.sign(digest, key: pair.privateKey, mechanism: .ecdsa)))
        }
        #expect(try await OpenSSLCommand.verifyECDSA(spki: spki, digest: digest, derSignature: der))
        // The same check fails for another digest, so it is not vacuous.
        #expect(try await !OpenSSLCommand.verifyECDSA(spki: spki, digest: Array(SHA256.hash(data: [1])), derSignature: der))
    }

    @Test func ed25519SignatureVerifiesWithSwiftCrypto() throws {
        try withFixture { f in
            let pair = try f.session.generateKeyPair(.ed25519, KeyOptions(usage: .signVerify))
            let spki = try f.session.subjectPublicKeyInfo(of: pair.publicKey)
            #expect(spki.count == 44 && Array(spki.prefix(12)) == hex("302a300506032b6570032100"))
            let signature = try f.session.sign(Self.message, key: pair.privateKey, mechanism: .eddsa)
            #expect(signature.count == 64)
            let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: spki.suffix(32))
            #expect(publicKey.isValidSignature(signature, for: Self.message))
            #expect(!publicKey.isValidSignature(signature, for: Self.message + [0]))
            #expect(try f.session.verify(Self.message, signature: signature, key: pair.publicKey, mechanism: .eddsa))
        }
    }
}

extension _RSA.Signing.PublicKey {
    func isValid(_ signature: [UInt8], digest: any Digest, padding: _RSA.Signing.Padding) -> Bool {
        let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
        switch digest {
        case let d as SHA256Digest: return isValidSignature(sig, for: d, padding: padding)
        case let d as SHA384Digest: return isValidSignature(sig, for: d, padding: padding)
        case let d as SHA512Digest: return isValidSignature(sig, for: d, padding: padding)
        default: return false
        }
    }
}
