import Crypto
import Foundation
@testable import KMSCore
import KMSModel
import Testing

/// DeriveSharedSecret (ECDH inside the HSM) checked against swift-crypto's
/// ECDH with a local key, and GetKeyLastUsage through the service as a
/// front end calls it (issue #17).
@Suite("DeriveSharedSecret and GetKeyLastUsage")
struct KeyAgreementAndLastUsageTests {
    /// A local peer on `spec`'s curve: its SPKI and the secret it derives
    /// with the KMS key's public key.
    static func peer(_ spec: KeySpec) throws -> (spki: Data, derive: (Data) throws -> Data) {
        switch spec {
        case .eccNistP256:
            let k = P256.KeyAgreement.PrivateKey()
            return (k.publicKey.derRepresentation, { try k.sharedSecretFromKeyAgreement(with: .init(derRepresentation: $0)).withUnsafeBytes { Data($0) } })
        case .eccNistP384:
            let k = P384.KeyAgreement.PrivateKey()
            return (k.publicKey.derRepresentation, { try k.sharedSecretFromKeyAgreement(with: .init(derRepresentation: $0)).withUnsafeBytes { Data($0) } })
        default:
            let k = P521.KeyAgreement.PrivateKey()
            return (k.publicKey.derRepresentation, { try k.sharedSecretFromKeyAgreement(with: .init(derRepresentation: $0)).withUnsafeBytes { Data($0) } })
        }
    }

    static func kmsError(_ body: () async throws -> Void) async -> KMSError.Name? {
        do { try await body() } catch let e as KMSError { return e.name } catch { return nil }
        return nil
    }

    @Test(arguments: KeyStorageMode.allCases)
    func theSecretMatchesALocalECDHOnEveryCurve(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            for (spec, length) in [(KeySpec.eccNistP256, 32), (.eccNistP384, 48), (.eccNistP521, 66)] {
                let meta = try await f.createKey(spec, usage: .keyAgreement)
                #expect(meta.keyAgreementAlgorithms == [.ecdh] && meta.signingAlgorithms == nil)
                let pub = try await f.engine.getPublicKey(KeyIdRequest(keyId: meta.keyId), caller: f.caller)
                #expect(pub.keyAgreementAlgorithms == [.ecdh] && pub.keyUsage == .keyAgreement)
                let peer = try Self.peer(spec)
                let response = try await f.engine.deriveSharedSecret(
                    DeriveSharedSecretRequest(keyId: meta.keyId, publicKey: peer.spki), caller: f.caller)
                #expect(response.sharedSecret.count == length, "\(spec)")
                #expect(response.sharedSecret == (try peer.derive(pub.publicKey)), "\(spec)")
                #expect(response.keyOrigin == .awsKMS && response.keyAgreementAlgorithm == .ecdh && response.keyId == meta.arn)
                // A second peer gets a different secret from the same key.
                let other = try Self.peer(spec)
                let second = try await f.engine.deriveSharedSecret(
                    DeriveSharedSecretRequest(keyId: meta.keyId, publicKey: other.spki), caller: f.caller)
                #expect(second.sharedSecret == (try other.derive(pub.publicKey)) && second.sharedSecret != response.sharedSecret)
            }
        }
    }

    @Test func badPeerKeysWrongKeysAndDryRunAreRefused() async throws {
        try await withEngine(.wrapped) { f in
            let key = try await f.createKey(.eccNistP256, usage: .keyAgreement).keyId
            let good = Array(try Self.peer(.eccNistP256).spki)
            func derive(_ spki: [UInt8], keyId: String? = nil, dryRun: Bool? = nil) async -> KMSError.Name? {
                await Self.kmsError {
                    var r = DeriveSharedSecretRequest(keyId: keyId ?? key, publicKey: Data(spki))
                    r.dryRun = dryRun
                    _ = try await f.engine.deriveSharedSecret(r, caller: f.caller)
                }
            }
            // Off the curve: the last byte of y changed.
            var offCurve = good
            offCurve[offCurve.count - 1] ^= 1
            #expect(await derive(offCurve) == .validation)
            // BER: the outer length in long form (0x81 0x59 for 0x59).
            #expect(good[1] < 0x80)
            #expect(await derive([good[0], 0x81] + good[1...]) == .validation)
            // Trailing bytes, another curve's key, a compressed point, garbage.
            #expect(await derive(good + [0]) == .validation)
            #expect(await derive(Array(try Self.peer(.eccNistP384).spki)) == .validation)
            #expect(await derive(Array(P256.KeyAgreement.PrivateKey().publicKey.compressedRepresentation)) == .validation)
            #expect(await derive([0x30, 0x00]) == .validation)
            // A signing key, an AES key: InvalidKeyUsage.
            let signer = try await f.createKey(.eccNistP256, usage: .signVerify).keyId
            #expect(await derive(good, keyId: signer) == .invalidKeyUsage)
            #expect(await derive(good, keyId: try await f.createKey().keyId) == .invalidKeyUsage)
            // DryRun: authorised, then refused, nothing derived.
            #expect(await derive(good, dryRun: true) == .dryRunOperation)
            // KEY_AGREEMENT is for the NIST curves only.
            #expect(await Self.kmsError { _ = try await f.createKey(.eccSecgP256k1, usage: .keyAgreement) } == .validation)
            #expect(await Self.kmsError { _ = try await f.createKey(.symmetricDefault, usage: .keyAgreement) } == .validation)
            // A disabled key derives nothing.
            _ = try await f.engine.disableKey(KeyIdRequest(keyId: key), caller: f.caller)
            #expect(await derive(good) == .disabled)
        }
    }

    /// Through KMSService, so the use is recorded the way the daemon records it.
    @Test func lastUsageFollowsSuccessfulUsesAndAgreesWithTheAuditLog() async throws {
        try await withEngine(.wrapped) { f in
            let directory = (f.storePath as NSString).deletingLastPathComponent + "/audit"
            let audit = try await AuditLog(configuration: AuditLog.Configuration(directory: directory),
                                           signer: SoftwareAuditSigner())
            let service = KMSService(engine: f.engine, audit: audit)
            func call(_ op: KMSOperation, _ body: [String: Any]) async throws -> (KMSService.Response, [String: Any]) {
                let response = await service.handle(.init(target: "TrentService." + op.rawValue,
                                                          body: try JSONSerialization.data(withJSONObject: body), caller: f.caller))
                return (response, (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:])
            }
            let meta = try await f.createKey()
            let (_, fresh) = try await call(.getKeyLastUsage, ["KeyId": meta.keyId])
            #expect(fresh["KeyLastUsage"] == nil, "\(fresh)")
            #expect(fresh["KeyId"] as? String == meta.keyId)
            #expect((fresh["KeyCreationDate"] as? Double) == meta.creationDate.timeIntervalSince1970)
            #expect((fresh["TrackingStartDate"] as? Double ?? .infinity) <= meta.creationDate.timeIntervalSince1970 + 1)

            let plaintext = Data("x".utf8).base64EncodedString()
            let (encrypted, body) = try await call(.encrypt, ["KeyId": meta.keyId, "Plaintext": plaintext])
            #expect(encrypted.error == nil)
            f.clock.advance(seconds: 60)
            // A refused use (wrong context) is not a use.
            let (refused, _) = try await call(.decrypt, ["CiphertextBlob": body["CiphertextBlob"] as! String,
                                                         "EncryptionContext": ["a": "b"]])
            #expect(refused.error?.name == .invalidCiphertext)
            // DryRun is not a use either.
            let (dry, _) = try await call(.encrypt, ["KeyId": meta.keyId, "Plaintext": plaintext, "DryRun": true])
            #expect(dry.error?.name == .dryRunOperation)
            var (_, last) = try await call(.getKeyLastUsage, ["KeyId": meta.arn])
            var usage = last["KeyLastUsage"] as? [String: Any] ?? [:]
            #expect(usage["Operation"] as? String == "Encrypt", "\(last)")
            #expect(usage["KmsRequestId"] as? String == encrypted.requestID)
            #expect(usage["CloudTrailEventId"] == nil)

            // The use is in the audit log under the same request id.
            try await audit.checkpoint()
            let lines = try String(contentsOfFile: directory + "/audit.log", encoding: .utf8)
            #expect(lines.split(separator: "\n").contains { $0.contains(encrypted.requestID) && $0.contains("\"Encrypt\"") })

            // ReEncrypt uses both keys; each reports it.
            let other = try await f.createKey()
            let (re, _) = try await call(.reEncrypt, ["CiphertextBlob": body["CiphertextBlob"] as! String,
                                                      "DestinationKeyId": other.keyId])
            #expect(re.error == nil)
            for key in [meta.keyId, other.keyId] {
                (_, last) = try await call(.getKeyLastUsage, ["KeyId": key])
                usage = last["KeyLastUsage"] as? [String: Any] ?? [:]
                #expect(usage["Operation"] as? String == "ReEncrypt" && usage["KmsRequestId"] as? String == re.requestID)
            }

            // Flushed to the store, the record outlives the process's memory.
            try await f.engine.flushKeyUsage()
            let stored = try await f.store.usage(keyID: meta.keyId)
            #expect(Set(stored.map(\.operation)) == ["Encrypt", "ReEncrypt"])
            #expect(stored.first { $0.operation == "Encrypt" }?.requestID == encrypted.requestID)

            // Aliases are refused, as AWS does; an unknown key is NotFound.
            _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/used", targetKeyId: meta.keyId), caller: f.caller)
            let (alias, _) = try await call(.getKeyLastUsage, ["KeyId": "alias/used"])
            #expect(alias.error?.name == .notFound)
            let (aliasARN, _) = try await call(.getKeyLastUsage, ["KeyId": "arn:aws:kms:local:000000000000:alias/used"])
            #expect(aliasARN.error?.name == .notFound)
            let (unknown, _) = try await call(.getKeyLastUsage, ["KeyId": UUID().uuidString.lowercased()])
            #expect(unknown.error?.name == .notFound)
            try await audit.close()
        }
    }
}
