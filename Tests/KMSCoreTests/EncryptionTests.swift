import Crypto
import Foundation
@testable import KMSCore
import KMSModel
import Testing
import _CryptoExtras

@Suite("Encrypt, Decrypt, ReEncrypt and data keys")
struct EncryptionTests {
    @Test(arguments: KeyStorageMode.allCases)
    func roundTripAndBlobFormat(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let response = try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data("secret".utf8)),
                                                      caller: f.caller)
            #expect(response.keyId == key.arn && response.encryptionAlgorithm == .symmetricDefault)
            let blob = [UInt8](response.ciphertextBlob)
            let expectedLength = 4 + 1 + 16 + 4 + 12 + 6 + 16 // header, IV, "secret", tag
            #expect(blob.count == expectedLength)
            #expect(Array(blob.prefix(5)) == Array("P11K".utf8) + [1])
            #expect(Array(blob[21..<25]) == [0, 0, 0, 1])
            let decrypted = try await f.engine.decrypt(DecryptRequest(ciphertextBlob: response.ciphertextBlob), caller: f.caller)
            #expect(decrypted.plaintext == Data("secret".utf8) && decrypted.keyId == key.arn)
            #expect(decrypted.keyMaterialId == key.currentKeyMaterialId)
            // Each encryption has a fresh IV.
            #expect(try await f.encrypt(key.keyId, "secret") != response.ciphertextBlob)
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func encryptionContextIsBound(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let context = ["tenant": "acme", "purpose": "invoices"]
            let blob = try await f.encrypt(key.keyId, "bound", context: context)
            // Reordered (dictionaries have no order; the canonical form sorts) decrypts.
            #expect(try await f.decrypt(blob, context: ["purpose": "invoices", "tenant": "acme"]) == "bound")
            for wrong in [nil, [:], ["tenant": "acme"], ["tenant": "acme", "purpose": "invoices", "x": "y"],
                          ["tenant": "evil", "purpose": "invoices"]] as [[String: String]?] {
                await expectKMSError(.invalidCiphertext, "\(String(describing: wrong))") { try await f.decrypt(blob, context: wrong) }
            }
            // Length prefixes keep {"ab":"c"} and {"a":"bc"} apart.
            let ab = try await f.encrypt(key.keyId, "prefix", context: ["ab": "c"])
            #expect(try await f.decrypt(ab, context: ["ab": "c"]) == "prefix")
            await expectKMSError(.invalidCiphertext) { try await f.decrypt(ab, context: ["a": "bc"]) }
            #expect(EncryptionContext.canonical(["ab": "c"]) != EncryptionContext.canonical(["a": "bc"]))
            // A context without one still fails the other way round.
            let none = try await f.encrypt(key.keyId, "no context")
            await expectKMSError(.invalidCiphertext) { try await f.decrypt(none, context: ["tenant": "acme"]) }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func tamperingAnyByteIsInvalidCiphertext(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let blob = [UInt8](try await f.encrypt(key.keyId, "tamper-evident", context: ["k": "v"]))
            for i in blob.indices {
                var tampered = blob
                tampered[i] ^= 0x01
                await expectKMSError(.invalidCiphertext, "byte \(i)") { try await f.decrypt(Data(tampered), context: ["k": "v"]) }
            }
            await expectKMSError(.invalidCiphertext) { try await f.decrypt(Data(blob.dropLast()), context: ["k": "v"]) }
            await expectKMSError(.invalidCiphertext) { try await f.decrypt(Data(blob + [0]), context: ["k": "v"]) }
            await expectKMSError(.invalidCiphertext) { try await f.decrypt(Data(blob.prefix(20)), context: ["k": "v"]) }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func limitsUsageAndKeyChecks(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let mac = try await f.createKey(.hmac256)
            let other = try await f.createKey()
            await expectKMSError(.validation) {
                try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data()), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data(count: 4097)), caller: f.caller)
            }
            _ = try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data(count: 4096)), caller: f.caller)
            await expectKMSError(.validation) {
                try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: nil), caller: f.caller)
            }
            await expectKMSError(.invalidKeyUsage) { try await f.encrypt(mac.keyId, "x") }
            await expectKMSError(.invalidKeyUsage) {
                try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8),
                                                          encryptionAlgorithm: .rsaesOAEPSHA256), caller: f.caller)
            }
            let blob = try await f.encrypt(key.keyId, "mine")
            await expectKMSError(.incorrectKey) { try await f.decrypt(blob, keyId: other.keyId) }
            #expect(try await f.decrypt(blob, keyId: key.arn) == "mine")
            var dry = EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8))
            dry.dryRun = true
            await expectKMSError(.dryRunOperation) { try await f.engine.encrypt(dry, caller: f.caller) }
            await expectKMSError(.validation) {
                try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8),
                                                          encryptionContext: ["": "empty key"]), caller: f.caller)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func reEncryptMovesBetweenKeysAndContexts(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let a = try await f.createKey()
            let b = try await f.createKey()
            let blob = try await f.encrypt(a.keyId, "moving", context: ["from": "a"])
            let moved = try await f.engine.reEncrypt(
                ReEncryptRequest(ciphertextBlob: blob, destinationKeyId: b.keyId, sourceEncryptionContext: ["from": "a"],
                                 destinationEncryptionContext: ["to": "b"]), caller: f.caller)
            #expect(moved.sourceKeyId == a.arn && moved.keyId == b.arn)
            #expect(try await f.decrypt(moved.ciphertextBlob, context: ["to": "b"]) == "moving")
            await expectKMSError(.invalidCiphertext) {
                try await f.engine.reEncrypt(ReEncryptRequest(ciphertextBlob: blob, destinationKeyId: b.keyId), caller: f.caller)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func dataKeysDecryptToTheirPlaintext(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let dk = try await f.engine.generateDataKey(
                GenerateDataKeyRequest(keyId: key.keyId, keySpec: .aes256, encryptionContext: ["file": "a.txt"]), caller: f.caller)
            #expect(dk.plaintext?.count == 32)
            let back = try await f.engine.decrypt(DecryptRequest(ciphertextBlob: dk.ciphertextBlob, encryptionContext: ["file": "a.txt"]),
                                                  caller: f.caller)
            #expect(back.plaintext == dk.plaintext)
            let dk16 = try await f.engine.generateDataKey(GenerateDataKeyRequest(keyId: key.keyId, numberOfBytes: 16), caller: f.caller)
            #expect(dk16.plaintext?.count == 16)
            let without = try await f.engine.generateDataKeyWithoutPlaintext(
                GenerateDataKeyRequest(keyId: key.keyId, keySpec: .aes128), caller: f.caller)
            #expect(without.plaintext == nil)
            #expect(try await f.engine.decrypt(DecryptRequest(ciphertextBlob: without.ciphertextBlob), caller: f.caller).plaintext.count == 16)
            for bad in [GenerateDataKeyRequest(keyId: key.keyId),
                        GenerateDataKeyRequest(keyId: key.keyId, keySpec: .aes256, numberOfBytes: 32),
                        GenerateDataKeyRequest(keyId: key.keyId, numberOfBytes: 0),
                        GenerateDataKeyRequest(keyId: key.keyId, numberOfBytes: 1025)] {
                await expectKMSError(.validation) { try await f.engine.generateDataKey(bad, caller: f.caller) }
            }
        }
    }

    @Test(arguments: [DataKeyPairSpec.eccNistP256, .eccNistP384, .rsa2048, .eccSecgP256k1, .eccNistEdwards25519],
          KeyStorageMode.allCases)
    func dataKeyPairPrivateKeyMatchesItsPublicKey(spec: DataKeyPairSpec, mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let pair = try await f.engine.generateDataKeyPair(
                GenerateDataKeyPairRequest(keyId: key.keyId, keyPairSpec: spec, encryptionContext: ["k": "v"]), caller: f.caller)
            let pkcs8 = try #require(pair.privateKeyPlaintext)
            #expect(pair.keyPairSpec == spec && pair.keyId == key.arn)
            // The encrypted private key decrypts to the plaintext one.
            let decrypted = try await f.engine.decrypt(
                DecryptRequest(ciphertextBlob: pair.privateKeyCiphertextBlob, encryptionContext: ["k": "v"]), caller: f.caller)
            #expect(decrypted.plaintext == pkcs8)
            // And the private key is the public key's partner.
            switch spec {
            case .eccNistP256:
                #expect(try P256.Signing.PrivateKey(derRepresentation: pkcs8).publicKey.derRepresentation == pair.publicKey)
            case .eccNistP384:
                #expect(try P384.Signing.PrivateKey(derRepresentation: pkcs8).publicKey.derRepresentation == pair.publicKey)
            case .rsa2048:
                let privateKey = try _RSA.Signing.PrivateKey(derRepresentation: pkcs8)
                #expect(privateKey.publicKey.derRepresentation == pair.publicKey && privateKey.keySizeInBits == 2048)
            case .eccNistEdwards25519:
                // PKCS#8 for Ed25519 ends with the 32-byte seed; SPKI ends with the public key.
                let privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: pkcs8.suffix(32))
                #expect(privateKey.publicKey.rawRepresentation == pair.publicKey.suffix(32))
            default:
                #expect(pkcs8.count > 100 && pair.publicKey.count == 88)
            }
            let without = try await f.engine.generateDataKeyPairWithoutPlaintext(
                GenerateDataKeyPairRequest(keyId: key.keyId, keyPairSpec: spec), caller: f.caller)
            #expect(without.privateKeyPlaintext == nil && !without.publicKey.isEmpty)
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func rsaDecryptsOAEPCiphertextsMadeOutside(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.rsa2048, usage: .encryptDecrypt)
            let spki = try await f.engine.getPublicKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).publicKey
            let outside = try _RSA.Encryption.PublicKey(derRepresentation: spki)
            for (algorithm, padding) in [(EncryptionAlgorithm.rsaesOAEPSHA1, _RSA.Encryption.Padding.PKCS1_OAEP),
                                         (.rsaesOAEPSHA256, .PKCS1_OAEP_SHA256)] {
                let ciphertext = try outside.encrypt(Data("asymmetric \(algorithm)".utf8), padding: padding)
                let r = try await f.engine.decrypt(DecryptRequest(ciphertextBlob: ciphertext, keyId: key.keyId,
                                                                  encryptionAlgorithm: algorithm), caller: f.caller)
                #expect(String(decoding: r.plaintext, as: UTF8.self) == "asymmetric \(algorithm)")
                // And the engine's own Encrypt round-trips.
                let own = try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data("own".utf8),
                                                                    encryptionAlgorithm: algorithm), caller: f.caller)
                #expect(own.ciphertextBlob.count == 256)
                let back = try await f.engine.decrypt(DecryptRequest(ciphertextBlob: own.ciphertextBlob, keyId: key.keyId,
                                                                     encryptionAlgorithm: algorithm), caller: f.caller)
                #expect(back.plaintext == Data("own".utf8))
                // A tampered ciphertext fails with the one uniform error.
                var bad = [UInt8](ciphertext)
                bad[100] ^= 1
                await expectKMSError(.invalidCiphertext) {
                    try await f.engine.decrypt(DecryptRequest(ciphertextBlob: Data(bad), keyId: key.keyId,
                                                              encryptionAlgorithm: algorithm), caller: f.caller)
                }
            }
            // SHA-1 ciphertext decrypted as SHA-256 is also just invalid.
            let sha1 = try outside.encrypt(Data("x".utf8), padding: .PKCS1_OAEP)
            await expectKMSError(.invalidCiphertext) {
                try await f.engine.decrypt(DecryptRequest(ciphertextBlob: sha1, keyId: key.keyId,
                                                          encryptionAlgorithm: .rsaesOAEPSHA256), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data(count: 215),
                                                          encryptionAlgorithm: .rsaesOAEPSHA1), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8), encryptionContext: ["a": "b"],
                                                          encryptionAlgorithm: .rsaesOAEPSHA1), caller: f.caller)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func encryptionBudgetRotatesBeforeItIsSpent(mode: KeyStorageMode) async throws {
        try await withEngine(mode, configure: { $0.encryptionBudget = 3; $0.encryptionLease = 2 }) { f in
            let key = try await f.createKey()
            var blobs: [Data] = []
            for i in 0..<7 { blobs.append(try await f.encrypt(key.keyId, "message \(i)")) }
            let versions = blobs.map { [UInt8]($0)[24] }
            #expect(versions == [1, 1, 1, 2, 2, 2, 3], "three encryptions per version, then a new version")
            for (i, blob) in blobs.enumerated() { #expect(try await f.decrypt(blob) == "message \(i)") }
            // The reservation is persisted before use: never below what was used.
            #expect(try await f.store.version(keyID: key.keyId, version: 1)?.encryptionsReserved == 3)
            let rotations = try await f.engine.listKeyRotations(ListKeyRotationsRequest(keyId: key.keyId), caller: f.caller)
            #expect(rotations.rotations.map(\.rotationType) == [.automatic, .automatic])
        }
    }
}
