import Crypto
import Foundation
@testable import KMSCore
import KMSModel
import PKCS11
import Testing

/// Restarting the engine on the same token and store, crashes between the
/// HSM step and the metadata commit, and material that vanished from the HSM
/// (DESIGN.md §7).
struct RestartAndCrashTests {
    struct InjectedFault: Error {}

    /// Runs `body` with a fixture it may replace by reopening it; whichever
    /// fixture is current at the end (or on failure) is the one shut down.
    private func withRestartableEngine(_ mode: KeyStorageMode, faults: FaultInjection = .init(),
                                       _ body: (inout EngineFixture) async throws -> Void) async throws {
        var fixture = try await EngineFixture.make(mode, faults: faults)
        do {
            try await body(&fixture)
        } catch {
            await fixture.shutdown()
            throw error
        }
        await fixture.shutdown()
    }

    private static let customPolicy = """
        {
          "Version": "2012-10-17",
          "Id": "restart-test",
          "Statement": [
            {"Sid": "Owner", "Effect": "Allow", "Principal": {"Unix": {"Uid": [1000]}}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Readers", "Effect": "Allow", "Principal": {"Unix": {"Gid": [2000]}},
             "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}
          ]
        }
        """

    /// Everything observable about a set of keys through the API.
    private struct Snapshot: Equatable {
        var metadata: [KeyMetadata]
        var aliases: [AliasListEntry]
        var tags: [[KMSModel.Tag]]
        var policies: [String]
        var rotations: [RotationsListEntry]
        var keyIDs: [String]
    }

    private func snapshot(_ f: EngineFixture, _ keyIDs: [String], rotating: String) async throws -> Snapshot {
        var metadata: [KeyMetadata] = []
        var tags: [[KMSModel.Tag]] = []
        var policies: [String] = []
        for id in keyIDs {
            metadata.append(try await f.engine.describeKey(KeyIdRequest(keyId: id), caller: f.caller).keyMetadata)
            tags.append(try await f.engine.listResourceTags(ListResourceTagsRequest(keyId: id), caller: f.caller).tags)
            policies.append(try await f.engine.getKeyPolicy(GetKeyPolicyRequest(keyId: id), caller: f.caller).policy)
        }
        let aliases = try await f.engine.listAliases(ListAliasesRequest(), caller: f.caller).aliases
        let rotations = try await f.engine.listKeyRotations(
            ListKeyRotationsRequest(keyId: rotating, includeKeyMaterial: "ALL_KEY_MATERIAL"), caller: f.caller).rotations
        let listed = try await f.engine.listKeys(ListKeysRequest(), caller: f.caller).keys.map(\.keyId)
        return Snapshot(metadata: metadata, aliases: aliases, tags: tags, policies: policies, rotations: rotations,
                        keyIDs: listed.sorted())
    }

    @Test(arguments: KeyStorageMode.allCases)
    func everythingSurvivesARestart(mode: KeyStorageMode) async throws {
        try await withRestartableEngine(mode) { f in
            let caller = f.caller
            let symmetric = try await f.engine.createKey(
                CreateKeyRequest(description: "restart: symmetric", tags: [KMSModel.Tag(tagKey: "team", tagValue: "storage")]),
                caller: caller).keyMetadata.keyId
            let ec = try await f.createKey(.eccNistP256, usage: .signVerify).keyId
            let rsa = try await f.createKey(.rsa2048, usage: .encryptDecrypt).keyId
            let hmac = try await f.createKey(.hmac256, usage: .generateVerifyMac).keyId
            let all = [symmetric, ec, rsa, hmac]

            _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/restart/sym", targetKeyId: symmetric), caller: caller)
            _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/restart/ec", targetKeyId: ec), caller: caller)
            _ = try await f.engine.tagResource(
                TagResourceRequest(keyId: ec, tags: [KMSModel.Tag(tagKey: "env", tagValue: "test"), KMSModel.Tag(tagKey: "owner", tagValue: "me")]),
                caller: caller)
            _ = try await f.engine.putKeyPolicy(PutKeyPolicyRequest(keyId: symmetric, policy: Self.customPolicy), caller: caller)
            _ = try await f.engine.enableKeyRotation(EnableKeyRotationRequest(keyId: symmetric, rotationPeriodInDays: 90),
                                                     caller: caller)

            let context = ["tenant": "42"]
            let v1Blob = try await f.encrypt("alias/restart/sym", "written under version 1", context: context)
            _ = try await f.engine.rotateKeyOnDemand(KeyIdRequest(keyId: symmetric), caller: caller)
            let v2Blob = try await f.encrypt(symmetric, "written under version 2")
            let rsaBlob = try await f.engine.encrypt(
                EncryptRequest(keyId: rsa, plaintext: Data("rsa secret".utf8), encryptionAlgorithm: .rsaesOAEPSHA1),
                caller: caller).ciphertextBlob
            let message = Data("signed before the restart".utf8)
            let signature = try await f.engine.sign(
                SignRequest(keyId: "alias/restart/ec", message: message, signingAlgorithm: .ecdsaSHA256), caller: caller).signature
            let mac = try await f.engine.generateMac(
                GenerateMacRequest(keyId: hmac, message: message, macAlgorithm: .hmacSHA256), caller: caller).mac
            let publicKey = try await f.engine.getPublicKey(KeyIdRequest(keyId: ec), caller: caller).publicKey

            let before = try await snapshot(f, all, rotating: symmetric)
            #expect(before.rotations.count == 2)
            #expect(before.aliases.count == 2)
            #expect(before.policies[0] == Self.customPolicy)
            let tokenObjectsBefore = try f.ourTokenObjects().sorted()
            if mode == .token {
                // symmetric v1 + v2, EC pair, RSA pair, HMAC.
                #expect(tokenObjectsBefore.count == 7)
            } else {
                #expect(tokenObjectsBefore.isEmpty)
            }

            f = try await f.reopen()

            #expect(f.engine.reconciliation.orphanObjectsDestroyed == 0)
            #expect(f.engine.reconciliation.keysMarkedUnavailable.isEmpty)
            let after = try await snapshot(f, all, rotating: symmetric)
            #expect(after == before)
            #expect(after.metadata.allSatisfy { $0.keyState == .enabled })
            #expect(try f.ourTokenObjects().sorted() == tokenObjectsBefore)
            let status = try await f.engine.getKeyRotationStatus(KeyIdRequest(keyId: symmetric), caller: caller)
            #expect(status.keyRotationEnabled)
            #expect(status.rotationPeriodInDays == 90)
            #expect(try await f.store.key(id: symmetric)?.currentVersion == 2)

            // Old ciphertexts of both versions decrypt; new ones use version 2.
            #expect(try await f.decrypt(v1Blob, context: context) == "written under version 1")
            #expect(try await f.decrypt(v2Blob) == "written under version 2")
            let fresh = try await f.encrypt("alias/restart/sym", "written after the restart")
            #expect(Array(fresh[21..<25]) == [0, 0, 0, 2])
            #expect(try await f.decrypt(fresh) == "written after the restart")
            let rsaPlain = try await f.engine.decrypt(
                DecryptRequest(ciphertextBlob: rsaBlob, keyId: rsa, encryptionAlgorithm: .rsaesOAEPSHA1), caller: caller)
            #expect(rsaPlain.plaintext == Data("rsa secret".utf8))

            // Signatures from before still verify; new ones verify inside and outside.
            #expect(try await f.engine.getPublicKey(KeyIdRequest(keyId: ec), caller: caller).publicKey == publicKey)
            #expect(try await f.engine.verify(
                VerifyRequest(keyId: ec, message: message, signature: signature, signingAlgorithm: .ecdsaSHA256),
                caller: caller).signatureValid)
            let newMessage = Data("signed after the restart".utf8)
            let newSignature = try await f.engine.sign(
                SignRequest(keyId: ec, message: newMessage, signingAlgorithm: .ecdsaSHA256), caller: caller).signature
            #expect(try await f.engine.verify(
                VerifyRequest(keyId: "alias/restart/ec", message: newMessage, signature: newSignature,
                              signingAlgorithm: .ecdsaSHA256),
                caller: caller).signatureValid)
            let outside = try P256.Signing.PublicKey(derRepresentation: publicKey)
            #expect(outside.isValidSignature(try P256.Signing.ECDSASignature(derRepresentation: newSignature), for: newMessage))

            // MACs from before verify, and the same MAC is computed again.
            #expect(try await f.engine.verifyMac(
                VerifyMacRequest(keyId: hmac, message: message, macAlgorithm: .hmacSHA256, mac: mac), caller: caller).macValid)
            #expect(try await f.engine.generateMac(
                GenerateMacRequest(keyId: hmac, message: message, macAlgorithm: .hmacSHA256), caller: caller).mac == mac)

            // A second restart changes nothing either.
            f = try await f.reopen()
            #expect(try await snapshot(f, all, rotating: symmetric) == before)
            #expect(try await f.decrypt(v1Blob, context: context) == "written under version 1")
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func crashDuringCreateKeyLeavesNothingAfterRestart(mode: KeyStorageMode) async throws {
        let faults = FaultInjection(beforeMetadataCommit: { op in if op == .createKey { throw InjectedFault() } },
                                    simulateCrash: true)
        try await withRestartableEngine(mode, faults: faults) { f in
            for (spec, usage) in [(KeySpec.symmetricDefault, KeyUsageType.encryptDecrypt), (.eccNistP256, .signVerify)] {
                do {
                    try await f.createKey(spec, usage: usage)
                    Issue.record("CreateKey of \(spec) succeeded despite the injected crash")
                } catch {
                    #expect(error is SimulatedCrash, "\(error)")
                }
            }
            // The crash skipped clean-up: in token mode the HSM objects are still there.
            let orphans = try f.ourTokenObjects()
            #expect(orphans.count == (mode == .token ? 3 : 0), "\(orphans)") // secret + EC private + EC public
            #expect(try await f.engine.listKeys(ListKeysRequest(), caller: f.caller).keys.isEmpty)

            f = try await f.reopen()

            if mode == .token {
                #expect(f.engine.reconciliation.orphanObjectsDestroyed == 3)
            } else {
                #expect(f.engine.reconciliation.orphanObjectsDestroyed == 0)
            }
            #expect(f.engine.reconciliation.keysMarkedUnavailable.isEmpty)
            #expect(try f.ourTokenObjects().isEmpty)
            #expect(try await f.engine.listKeys(ListKeysRequest(), caller: f.caller).keys.isEmpty)
            #expect(try await f.store.keys(after: nil, limit: 100).isEmpty)
            #expect(try await f.store.allVersions().isEmpty)

            // The restarted engine (no faults now) creates keys normally.
            let key = try await f.createKey()
            #expect(try await f.decrypt(try await f.encrypt(key.keyId, "after the crash")) == "after the crash")
            #expect(try f.ourTokenObjects() == (mode == .token ? ["p11kms/\(key.keyId)/v1"] : []))
            #expect(try await f.engine.listKeys(ListKeysRequest(), caller: f.caller).keys.map(\.keyId) == [key.keyId])
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func crashDuringRotationKeepsTheOldVersion(mode: KeyStorageMode) async throws {
        let faults = FaultInjection(beforeMetadataCommit: { op in if op == .rotateKeyOnDemand { throw InjectedFault() } },
                                    simulateCrash: true)
        try await withRestartableEngine(mode, faults: faults) { f in
            let key = try await f.createKey().keyId
            let blob = try await f.encrypt(key, "before the failed rotation")
            do {
                _ = try await f.engine.rotateKeyOnDemand(KeyIdRequest(keyId: key), caller: f.caller)
                Issue.record("RotateKeyOnDemand succeeded despite the injected crash")
            } catch {
                #expect(error is SimulatedCrash, "\(error)")
            }
            if mode == .token {
                #expect(try f.ourTokenObjects().sorted() == ["p11kms/\(key)/v1", "p11kms/\(key)/v2"])
            }

            f = try await f.reopen()

            #expect(f.engine.reconciliation.orphanObjectsDestroyed == (mode == .token ? 1 : 0))
            #expect(f.engine.reconciliation.keysMarkedUnavailable.isEmpty)
            #expect(try f.ourTokenObjects() == (mode == .token ? ["p11kms/\(key)/v1"] : []))
            let record = try #require(try await f.store.key(id: key))
            #expect(record.currentVersion == 1)
            #expect(record.state == .enabled)
            #expect(try await f.store.versions(keyID: key).map(\.version) == [1])
            #expect(try await f.engine.listKeyRotations(ListKeyRotationsRequest(keyId: key), caller: f.caller).rotations.isEmpty)

            #expect(try await f.decrypt(blob) == "before the failed rotation")
            let again = try await f.encrypt(key, "still version 1")
            #expect(Array(again[21..<25]) == [0, 0, 0, 1])
            #expect(try await f.decrypt(again) == "still version 1")

            // Rotation works once the fault is gone, and version 2 is a fresh one.
            _ = try await f.engine.rotateKeyOnDemand(KeyIdRequest(keyId: key), caller: f.caller)
            let rotated = try await f.encrypt(key, "version 2")
            #expect(Array(rotated[21..<25]) == [0, 0, 0, 2])
            #expect(try await f.decrypt(rotated) == "version 2")
            #expect(try await f.decrypt(blob) == "before the failed rotation")
            #expect(try f.ourTokenObjects().sorted() == (mode == .token ? ["p11kms/\(key)/v1", "p11kms/\(key)/v2"] : []))
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func missingTokenObjectMakesTheKeyUnavailable(mode: KeyStorageMode) async throws {
        // Wrapped versions live in the store, so only token mode can lose material in the HSM.
        guard mode == .token else { return }
        try await withRestartableEngine(mode) { f in
            let lost = try await f.createKey().keyId
            let kept = try await f.createKey().keyId
            let signer = try await f.createKey(.eccNistP256, usage: .signVerify).keyId
            let lostBlob = try await f.encrypt(lost, "its material will vanish")
            let keptBlob = try await f.encrypt(kept, "this one stays")

            // Destroy the version's token object behind the engine's back.
            let session = try f.token.openUserSession()
            let objects = try session.findObjects([.token(true), .label("p11kms/\(lost)/v1")])
            #expect(objects.count == 1)
            for object in objects { try session.destroyObject(object) }
            try session.close()

            f = try await f.reopen()

            #expect(f.engine.reconciliation.keysMarkedUnavailable == [lost])
            #expect(f.engine.reconciliation.orphanObjectsDestroyed == 0)
            let described = try await f.engine.describeKey(KeyIdRequest(keyId: lost), caller: f.caller).keyMetadata
            #expect(described.keyState == .unavailable)
            #expect(!described.enabled)
            await expectKMSError(.kmsInvalidState) { try await f.encrypt(lost, "refused") }
            await expectKMSError(.kmsInvalidState) { try await f.decrypt(lostBlob) }
            await expectKMSError(.kmsInvalidState) {
                try await f.engine.enableKey(KeyIdRequest(keyId: lost), caller: f.caller)
            }
            // Still listed: the metadata is not deleted, only marked.
            #expect(try await f.engine.listKeys(ListKeysRequest(), caller: f.caller).keys.map(\.keyId).contains(lost))

            // The other keys are unaffected.
            #expect(try await f.decrypt(keptBlob) == "this one stays")
            #expect(try await f.decrypt(try await f.encrypt(kept, "new")) == "new")
            let message = Data("still signing".utf8)
            let signature = try await f.engine.sign(
                SignRequest(keyId: signer, message: message, signingAlgorithm: .ecdsaSHA256), caller: f.caller).signature
            #expect(try await f.engine.verify(
                VerifyRequest(keyId: signer, message: message, signature: signature, signingAlgorithm: .ecdsaSHA256),
                caller: f.caller).signatureValid)

            // Another restart keeps it Unavailable without reporting it again.
            f = try await f.reopen()
            #expect(f.engine.reconciliation.keysMarkedUnavailable.isEmpty)
            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: lost), caller: f.caller).keyMetadata.keyState
                    == .unavailable)
        }
    }
}
