import COpenSSL
import Crypto
import Foundation
@testable import KMSCore
import KMSModel
import PKCS11
import Testing
import _CryptoExtras

/// Bring your own key: material wrapped outside the HSM (swift-crypto,
/// OpenSSL), unwrapped inside it, and checked against computations done
/// outside with the known plaintext key.
struct ImportTests {
    @Test(arguments: KeyStorageMode.allCases)
    func externalKeyStartsPendingImportWithoutMaterial(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.symmetricDefault, origin: .external)
            #expect(key.keyState == .pendingImport)
            #expect(key.origin == .external)
            #expect(!key.enabled)
            #expect(key.currentKeyMaterialId == nil)
            #expect(try await f.store.versions(keyID: key.keyId).isEmpty)
            if mode == .token { #expect(try f.ourTokenObjects().isEmpty) }
            await expectKMSError(.kmsInvalidState) { try await f.encrypt(key.keyId, "no material yet") }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func importWithOAEPSHA1AndCheckBlobOutside(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.symmetricDefault, origin: .external)
            let material = ImportHelpers.randomBytes(32)
            let parameters = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            #expect(parameters.keyId == key.arn)
            #expect(parameters.parametersValidTo == f.clock.now.addingTimeInterval(24 * 3600))
            let response = try await ImportHelpers.importMaterial(
                f, key.keyId, parameters, try ImportHelpers.wrapOAEPSHA1(material, to: parameters.publicKey))
            #expect(response.keyId == key.arn)
            #expect(response.keyMaterialId.count == 64)

            let described = try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata
            #expect(described.keyState == .enabled)
            #expect(described.currentKeyMaterialId == response.keyMaterialId)
            #expect(described.expirationModel == .keyMaterialDoesNotExpire)
            #expect(described.validTo == nil)

            let blob = try await f.encrypt(key.keyId, "imported material works")
            #expect(try await f.decrypt(blob) == "imported material works")

            // The material is the one we imported, and the blob format and AAD
            // are as specified: open the engine's blob outside the HSM.
            #expect(try ImportHelpers.openOutside(blob, key: material, keyId: key.keyId) == Data("imported material works".utf8))
            let context = ["purpose": "test", "a": "bc", "ab": "c"]
            let withContext = try await f.encrypt(key.keyId, "bound to a context", context: context)
            #expect(try ImportHelpers.openOutside(withContext, key: material, keyId: key.keyId, context: context)
                    == Data("bound to a context".utf8))
            // A different context does not open it outside either.
            #expect(throws: (any Error).self) {
                try ImportHelpers.openOutside(withContext, key: material, keyId: key.keyId, context: ["a": "b"])
            }
            // And a blob made outside with the same material opens inside.
            let outside = try ImportHelpers.sealOutside(Data("sealed outside".utf8), key: material, keyId: key.keyId,
                                                        context: context)
            #expect(try await f.decrypt(outside, context: context) == "sealed outside")
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func reimportSameMaterialAndRefuseDifferentMaterial(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.symmetricDefault, origin: .external)
            let material = ImportHelpers.randomBytes(32)
            let parameters = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            try await ImportHelpers.importMaterial(f, key.keyId, parameters,
                                                   try ImportHelpers.wrapOAEPSHA1(material, to: parameters.publicKey))
            let before = try await f.encrypt(key.keyId, "written before re-import")

            // The same material again, while the key is Enabled.
            try await ImportHelpers.importMaterial(f, key.keyId, parameters,
                                                   try ImportHelpers.wrapOAEPSHA1(material, to: parameters.publicKey))
            #expect(try await f.decrypt(before) == "written before re-import")
            #expect(try await f.store.versions(keyID: key.keyId).count == 1)
            if mode == .token { #expect(try f.ourTokenObjects() == ["p11kms/\(key.keyId)/v1"]) }

            // Different material is refused, and the key keeps working with the old.
            await expectKMSError(.incorrectKeyMaterial) {
                try await ImportHelpers.importMaterial(
                    f, key.keyId, parameters,
                    try ImportHelpers.wrapOAEPSHA1(ImportHelpers.randomBytes(32), to: parameters.publicKey))
            }
            #expect(try await f.decrypt(before) == "written before re-import")

            // Delete, then import the same material with fresh parameters: old ciphertexts decrypt again.
            _ = try await f.engine.deleteImportedKeyMaterial(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            await expectKMSError(.kmsInvalidState) { try await f.decrypt(before) }
            if mode == .token { #expect(try f.ourTokenObjects().isEmpty) }
            let fresh = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            #expect(fresh.importToken != parameters.importToken)
            await expectKMSError(.invalidImportToken, "the old token was replaced") {
                try await ImportHelpers.importMaterial(f, key.keyId, parameters,
                                                       try ImportHelpers.wrapOAEPSHA1(material, to: fresh.publicKey))
            }
            await expectKMSError(.incorrectKeyMaterial, "still not the first material") {
                try await ImportHelpers.importMaterial(
                    f, key.keyId, fresh, try ImportHelpers.wrapOAEPSHA1(ImportHelpers.randomBytes(32), to: fresh.publicKey))
            }
            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata.keyState
                    == .pendingImport)
            try await ImportHelpers.importMaterial(f, key.keyId, fresh,
                                                   try ImportHelpers.wrapOAEPSHA1(material, to: fresh.publicKey))
            #expect(try await f.decrypt(before) == "written before re-import")
            #expect(try ImportHelpers.openOutside(try await f.encrypt(key.keyId, "after"), key: material, keyId: key.keyId)
                    == Data("after".utf8))
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func importTokenAndMaterialErrors(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.symmetricDefault, origin: .external)
            let material = ImportHelpers.randomBytes(32)
            let parameters = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            let wrapped = try ImportHelpers.wrapOAEPSHA1(material, to: parameters.publicKey)

            var wrongToken = parameters.importToken
            wrongToken[wrongToken.count - 1] ^= 0x01
            await expectKMSError(.invalidImportToken) {
                try await f.engine.importKeyMaterial(
                    ImportKeyMaterialRequest(keyId: key.keyId, importToken: wrongToken, encryptedKeyMaterial: wrapped),
                    caller: f.caller)
            }
            // A token GetParametersForImport issued for another key is wrong for this one.
            let other = try await f.createKey(.symmetricDefault, origin: .external)
            let otherParameters = try await ImportHelpers.parameters(f, other.keyId, .rsaesOAEPSHA1)
            await expectKMSError(.invalidImportToken) {
                try await ImportHelpers.importMaterial(f, key.keyId, otherParameters,
                                                       try ImportHelpers.wrapOAEPSHA1(material, to: otherParameters.publicKey))
            }
            await expectKMSError(.incorrectKeyMaterial, "16 bytes is not a SYMMETRIC_DEFAULT key") {
                try await ImportHelpers.importMaterial(
                    f, key.keyId, parameters, try ImportHelpers.wrapOAEPSHA1(ImportHelpers.randomBytes(16), to: parameters.publicKey))
            }
            await expectKMSError(.invalidCiphertext, "garbage instead of wrapped material") {
                try await ImportHelpers.importMaterial(f, key.keyId, parameters, Data(ImportHelpers.randomBytes(256)))
            }
            await expectKMSError(.invalidCiphertext, "material wrapped to another key pair") {
                try await ImportHelpers.importMaterial(f, key.keyId, parameters,
                                                       try ImportHelpers.wrapOAEPSHA1(material, to: otherParameters.publicKey))
            }
            // None of the failures left material behind or changed the key.
            #expect(try await f.store.versions(keyID: key.keyId).isEmpty)
            if mode == .token { #expect(try f.ourTokenObjects().isEmpty) }
            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata.keyState
                    == .pendingImport)

            f.clock.advance(seconds: 25 * 3600)
            await expectKMSError(.expiredImportToken) {
                try await ImportHelpers.importMaterial(f, key.keyId, parameters, wrapped)
            }
            // Fresh parameters work.
            let fresh = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            try await ImportHelpers.importMaterial(f, key.keyId, fresh, try ImportHelpers.wrapOAEPSHA1(material, to: fresh.publicKey))
            #expect(try await f.decrypt(try await f.encrypt(key.keyId, "ok")) == "ok")
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func oaepSHA256FollowsTheTokenProfile(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.symmetricDefault, origin: .external)
            let request = GetParametersForImportRequest(keyId: key.keyId, wrappingAlgorithm: .rsaesOAEPSHA256,
                                                        wrappingKeySpec: .rsa2048)
            if f.engine.profile.supportsOAEP(.sha256) {
                let parameters = try await f.engine.getParametersForImport(request, caller: f.caller)
                let material = ImportHelpers.randomBytes(32)
                let outside = try _RSA.Encryption.PublicKey(derRepresentation: parameters.publicKey)
                try await ImportHelpers.importMaterial(f, key.keyId, parameters,
                                                       try outside.encrypt(material, padding: .PKCS1_OAEP_SHA256))
                let blob = try await f.encrypt(key.keyId, "sha-256 import")
                #expect(try ImportHelpers.openOutside(blob, key: material, keyId: key.keyId) == Data("sha-256 import".utf8))
            } else {
                do {
                    _ = try await f.engine.getParametersForImport(request, caller: f.caller)
                    Issue.record("GetParametersForImport with RSAES_OAEP_SHA_256 succeeded on a token without OAEP-SHA-256")
                } catch let error as KMSError {
                    #expect(error.name == .unsupportedOperation)
                    #expect(error.message.contains("RSAES_OAEP_SHA_256"), "\(error)")
                }
                // Nothing was made in the HSM or the store for the refused request.
                #expect(try await f.store.importParameters(keyID: key.keyId) == nil)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func importWithRSAAESKeyWrapSHA1(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.symmetricDefault, origin: .external)
            let material = ImportHelpers.randomBytes(32)
            let parameters = try await ImportHelpers.parameters(f, key.keyId, .rsaAESKeyWrapSHA1)
            let ephemeral = ImportHelpers.randomBytes(32)
            let wrappedEphemeral = try ImportHelpers.wrapOAEPSHA1(ephemeral, to: parameters.publicKey)
            #expect(wrappedEphemeral.count == 256)
            let wrappedMaterial = try ImportHelpers.aesKeyWrapWithPadding(material, key: ephemeral)
            #expect(wrappedMaterial.count == 40)
            try await ImportHelpers.importMaterial(f, key.keyId, parameters, wrappedEphemeral + Data(wrappedMaterial))

            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata.keyState
                    == .enabled)
            let blob = try await f.encrypt(key.keyId, "two-layer import")
            #expect(try await f.decrypt(blob) == "two-layer import")
            #expect(try ImportHelpers.openOutside(blob, key: material, keyId: key.keyId) == Data("two-layer import".utf8))

            // The second layer is checked: material wrapped under another ephemeral key is refused.
            let wrongLayer = try ImportHelpers.aesKeyWrapWithPadding(material, key: ImportHelpers.randomBytes(32))
            await expectKMSError(.invalidCiphertext) {
                try await ImportHelpers.importMaterial(f, key.keyId, parameters, wrappedEphemeral + Data(wrongLayer))
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func importHMACKeyMatchesHMACOutside(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.hmac256, usage: .generateVerifyMac, origin: .external)
            #expect(key.keyState == .pendingImport)
            let material = ImportHelpers.randomBytes(32)
            let parameters = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            try await ImportHelpers.importMaterial(f, key.keyId, parameters,
                                                   try ImportHelpers.wrapOAEPSHA1(material, to: parameters.publicKey))
            let message = Data("a message to authenticate".utf8)
            let mac = try await f.engine.generateMac(
                GenerateMacRequest(keyId: key.keyId, message: message, macAlgorithm: .hmacSHA256), caller: f.caller).mac
            let expected = Data(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: material)))
            #expect(mac == expected)
            let verified = try await f.engine.verifyMac(
                VerifyMacRequest(keyId: key.keyId, message: message, macAlgorithm: .hmacSHA256, mac: expected),
                caller: f.caller)
            #expect(verified.macValid)
            var wrong = expected
            wrong[0] ^= 0x80
            await expectKMSError(.kmsInvalidMac) {
                try await f.engine.verifyMac(
                    VerifyMacRequest(keyId: key.keyId, message: message, macAlgorithm: .hmacSHA256, mac: wrong),
                    caller: f.caller)
            }
            // HMAC_256 takes 32 to 64 bytes and HMAC_224 28 to 64, multiples of 8 or not. (SoftHSM2
            // reports no CKA_VALUE_LEN for unwrapped keys, so the engine measures them to 8 bytes.)
            let cases: [(KeySpec, Int, Bool)] = [(.hmac256, 16, false), (.hmac256, 31, false), (.hmac256, 33, true),
                                                 (.hmac256, 64, true), (.hmac256, 65, false), (.hmac224, 27, false),
                                                 (.hmac224, 29, true)]
            for (spec, length, accepted) in cases {
                let other = try await f.createKey(spec, usage: .generateVerifyMac, origin: .external)
                let otherParameters = try await ImportHelpers.parameters(f, other.keyId, .rsaesOAEPSHA1)
                let otherMaterial = ImportHelpers.randomBytes(length)
                let wrapped = try ImportHelpers.wrapOAEPSHA1(otherMaterial, to: otherParameters.publicKey)
                guard accepted else {
                    await expectKMSError(.incorrectKeyMaterial, "\(length) bytes for \(spec)") {
                        try await ImportHelpers.importMaterial(f, other.keyId, otherParameters, wrapped)
                    }
                    #expect(try await f.store.versions(keyID: other.keyId).isEmpty)
                    continue
                }
                try await ImportHelpers.importMaterial(f, other.keyId, otherParameters, wrapped)
                let algorithm: MacAlgorithm = spec == .hmac256 ? .hmacSHA256 : .hmacSHA224
                let otherMac = try await f.engine.generateMac(
                    GenerateMacRequest(keyId: other.keyId, message: message, macAlgorithm: algorithm), caller: f.caller).mac
                #expect(try await f.engine.verifyMac(
                    VerifyMacRequest(keyId: other.keyId, message: message, macAlgorithm: algorithm, mac: otherMac),
                    caller: f.caller).macValid)
                if spec == .hmac256 {
                    #expect(otherMac == Data(HMAC<SHA256>.authenticationCode(for: message,
                                                                             using: SymmetricKey(data: otherMaterial))),
                            "\(length) bytes")
                }
            }
            if mode == .token { #expect(try f.ourTokenObjects().count == 4) }

            // The rule for lengths known only to 8 bytes: a window straddling the
            // minimum is accepted only when the HSM itself refuses shorter keys.
            #expect(KMSEngine.importLengthOK(25...32, .hmac256, tokenMinimum: 32))
            #expect(!KMSEngine.importLengthOK(25...32, .hmac256, tokenMinimum: 16))
            #expect(KMSEngine.importLengthOK(33...40, .hmac256, tokenMinimum: 0))
            #expect(!KMSEngine.importLengthOK(65...72, .hmac256, tokenMinimum: 32))
            #expect(KMSEngine.importLengthOK(25...32, .symmetricDefault, tokenMinimum: 0))
            #expect(!KMSEngine.importLengthOK(17...24, .symmetricDefault, tokenMinimum: 0))
            #expect(!KMSEngine.importLengthOK(33...40, .symmetricDefault, tokenMinimum: 0))
            #expect(KMSEngine.importLengthOK(32...32, .symmetricDefault, tokenMinimum: 0))
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func expiringMaterialAndDeletingIt(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.symmetricDefault, origin: .external)
            let material = ImportHelpers.randomBytes(32)
            let parameters = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            let wrapped = try ImportHelpers.wrapOAEPSHA1(material, to: parameters.publicKey)

            await expectKMSError(.validation, "ValidTo in the past") {
                try await ImportHelpers.importMaterial(f, key.keyId, parameters, wrapped,
                                                       validTo: f.clock.now.addingTimeInterval(-60),
                                                       model: .keyMaterialExpires)
            }
            await expectKMSError(.validation, "KEY_MATERIAL_EXPIRES without ValidTo") {
                try await ImportHelpers.importMaterial(f, key.keyId, parameters, wrapped, model: .keyMaterialExpires)
            }

            let validTo = f.clock.now.addingTimeInterval(3600)
            try await ImportHelpers.importMaterial(f, key.keyId, parameters, wrapped, validTo: validTo,
                                                   model: .keyMaterialExpires)
            let described = try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata
            #expect(described.keyState == .enabled)
            #expect(described.validTo == validTo)
            #expect(described.expirationModel == .keyMaterialExpires)
            let blob = try await f.encrypt(key.keyId, "until it expires")

            // Before ValidTo the scheduler leaves it alone.
            f.clock.advance(seconds: 1800)
            #expect(try await f.engine.runScheduledTasks().expiredMaterial.isEmpty)
            #expect(try await f.decrypt(blob) == "until it expires")

            f.clock.advance(seconds: 1801)
            let work = try await f.engine.runScheduledTasks()
            #expect(work.expiredMaterial == [key.keyId])
            #expect(work.failures.isEmpty)
            let expired = try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata
            #expect(expired.keyState == .pendingImport)
            #expect(expired.currentKeyMaterialId == nil)
            await expectKMSError(.kmsInvalidState) { try await f.encrypt(key.keyId, "after expiry") }
            await expectKMSError(.kmsInvalidState) { try await f.decrypt(blob) }
            #expect(try await f.store.versions(keyID: key.keyId).isEmpty)
            if mode == .token { #expect(try f.ourTokenObjects().isEmpty) }

            // Re-import (without expiry) brings the old ciphertext back; then delete it by hand.
            let fresh = try await ImportHelpers.parameters(f, key.keyId, .rsaesOAEPSHA1)
            try await ImportHelpers.importMaterial(f, key.keyId, fresh, try ImportHelpers.wrapOAEPSHA1(material, to: fresh.publicKey))
            #expect(try await f.decrypt(blob) == "until it expires")
            let deleted = try await f.engine.deleteImportedKeyMaterial(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            #expect(deleted.keyId == key.arn)
            #expect(deleted.keyMaterialId?.count == 64)
            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata.keyState
                    == .pendingImport)
            await expectKMSError(.kmsInvalidState) { try await f.encrypt(key.keyId, "after delete") }
            if mode == .token { #expect(try f.ourTokenObjects().isEmpty) }

            // A key whose material the HSM made has nothing imported to delete.
            let native = try await f.createKey(.symmetricDefault)
            await expectKMSError(.unsupportedOperation) {
                try await f.engine.deleteImportedKeyMaterial(KeyIdRequest(keyId: native.keyId), caller: f.caller)
            }
            #expect(try await f.decrypt(try await f.encrypt(native.keyId, "still fine")) == "still fine")
        }
    }
}

/// Wrapping material outside the HSM, and checking the engine's blobs with
/// the plaintext key. Shared with the other files of this target.
enum ImportHelpers {
    struct OpenSSLFailure: Error {}

    static func randomBytes(_ count: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func parameters(_ f: EngineFixture, _ keyId: String, _ algorithm: WrappingAlgorithm,
                           spec: WrappingKeySpec = .rsa2048) async throws -> GetParametersForImportResponse {
        try await f.engine.getParametersForImport(
            GetParametersForImportRequest(keyId: keyId, wrappingAlgorithm: algorithm, wrappingKeySpec: spec),
            caller: f.caller)
    }

    static func wrapOAEPSHA1(_ material: [UInt8], to publicKey: Data) throws -> Data {
        try _RSA.Encryption.PublicKey(derRepresentation: publicKey).encrypt(material, padding: .PKCS1_OAEP)
    }

    @discardableResult
    static func importMaterial(_ f: EngineFixture, _ keyId: String, _ parameters: GetParametersForImportResponse,
                               _ encrypted: Data, validTo: Date? = nil,
                               model: ExpirationModel? = nil) async throws -> ImportKeyMaterialResponse {
        try await f.engine.importKeyMaterial(
            ImportKeyMaterialRequest(keyId: keyId, importToken: parameters.importToken, encryptedKeyMaterial: encrypted,
                                     validTo: validTo, expirationModel: model),
            caller: f.caller)
    }

    /// RFC 5649 AES key wrap with padding, by OpenSSL.
    static func aesKeyWrapWithPadding(_ plaintext: [UInt8], key: [UInt8]) throws -> [UInt8] {
        guard key.count == 32, let ctx = EVP_CIPHER_CTX_new() else { throw OpenSSLFailure() }
        defer { EVP_CIPHER_CTX_free(ctx) }
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW)
        guard EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap_pad(), nil, key, nil) == 1 else { throw OpenSSLFailure() }
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var written: Int32 = 0
        guard EVP_EncryptUpdate(ctx, &out, &written, plaintext, Int32(plaintext.count)) == 1 else {
            throw OpenSSLFailure()
        }
        var tail = [UInt8](repeating: 0, count: 16)
        var tailWritten: Int32 = 0
        guard EVP_EncryptFinal_ex(ctx, &tail, &tailWritten) == 1 else { throw OpenSSLFailure() }
        return Array(out.prefix(Int(written))) + tail.prefix(Int(tailWritten))
    }

    /// The AAD of DESIGN.md §3, built independently of the engine's code.
    static func aad(keyId: String, version: UInt32, context: [String: String]) throws -> [UInt8] {
        let uuid = try #require(UUID(uuidString: keyId)).uuid
        let uuidBytes = withUnsafeBytes(of: uuid) { Array($0) }
        var header = Array("P11K".utf8) + [0x01] + uuidBytes
        header += [UInt8(version >> 24), UInt8((version >> 16) & 0xFF), UInt8((version >> 8) & 0xFF), UInt8(version & 0xFF)]
        #expect(header.count == 25)
        for (k, v) in context.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }) {
            for field in [Array(k.utf8), Array(v.utf8)] {
                header += [UInt8(field.count >> 8), UInt8(field.count & 0xFF)] + field
            }
        }
        return header
    }

    /// Opens an engine blob with AES-GCM outside the HSM.
    static func openOutside(_ blob: Data, key: [UInt8], keyId: String, context: [String: String] = [:]) throws -> Data {
        let bytes = Array(blob)
        try #require(bytes.count >= 25 + 12 + 16)
        let version = bytes[21..<25].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let aad = try aad(keyId: keyId, version: version, context: context)
        #expect(Array(bytes[0..<25]) == Array(aad[0..<25]), "blob header")
        let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: bytes[25..<37]),
                                        ciphertext: bytes[37..<(bytes.count - 16)], tag: bytes.suffix(16))
        return try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: aad)
    }

    /// Makes a version-1 blob outside the HSM, as the engine would.
    static func sealOutside(_ plaintext: Data, key: [UInt8], keyId: String, context: [String: String] = [:]) throws -> Data {
        let aad = try aad(keyId: keyId, version: 1, context: context)
        let box = try AES.GCM.seal(plaintext, using: SymmetricKey(data: key), nonce: AES.GCM.Nonce(), authenticating: aad)
        return Data(aad[0..<25]) + Data(box.nonce) + box.ciphertext + box.tag
    }
}
