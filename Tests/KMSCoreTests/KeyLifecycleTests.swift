import Foundation
@testable import KMSCore
import KMSModel
import Testing

@Suite("Keys: create, describe, list, enable, disable, delete")
struct KeyLifecycleTests {
    static let allSpecs: [(KeySpec, KeyUsageType)] = [
        (.symmetricDefault, .encryptDecrypt), (.hmac224, .generateVerifyMac), (.hmac256, .generateVerifyMac),
        (.hmac384, .generateVerifyMac), (.hmac512, .generateVerifyMac), (.rsa2048, .encryptDecrypt),
        (.rsa3072, .signVerify), (.rsa4096, .signVerify), (.eccNistP256, .signVerify), (.eccNistP384, .signVerify),
        (.eccNistP521, .signVerify), (.eccSecgP256k1, .signVerify), (.eccNistEdwards25519, .signVerify),
    ]

    @Test(arguments: KeyStorageMode.allCases)
    func everyKeySpecSoftHSMCanDoIsCreated(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            for (spec, usage) in Self.allSpecs {
                let meta = try await f.createKey(spec, usage: usage)
                #expect(meta.keySpec == spec && meta.keyUsage == usage && meta.keyState == .enabled && meta.enabled)
                #expect(meta.origin == .awsKMS && meta.keyManager == "CUSTOMER")
                #expect(meta.arn == "arn:aws:kms:local:000000000000:key/\(meta.keyId)")
                #expect(meta.keyId.count == 36 && UUID(uuidString: meta.keyId) != nil)
                #expect(meta.currentKeyMaterialId?.count == 64)
                switch usage {
                case .encryptDecrypt: #expect(meta.encryptionAlgorithms?.isEmpty == false)
                case .signVerify: #expect(meta.signingAlgorithms?.isEmpty == false)
                case .generateVerifyMac: #expect(meta.macAlgorithms?.count == 1)
                case .keyAgreement: #expect(meta.keyAgreementAlgorithms == [.ecdh] && meta.signingAlgorithms == nil)
                }
                let described = try await f.engine.describeKey(KeyIdRequest(keyId: meta.arn), caller: f.caller).keyMetadata
                #expect(described == meta)
            }
            // Token mode keeps one token object per secret key and two per key pair.
            if mode == .token {
                #expect(try f.ourTokenObjects().count == 5 + 2 * 8)
            } else {
                // Wrapped mode keeps only what the token cannot wrap as token objects.
                let unwrappable = f.engine.profile.canWrap(.ecEdwards) ? 0 : 2
                #expect(try f.ourTokenObjects().count == unwrappable)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func createKeyValidation(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            await expectKMSError(.validation) {
                try await f.engine.createKey(CreateKeyRequest(keyUsage: .signVerify, keySpec: .symmetricDefault), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.createKey(CreateKeyRequest(description: String(repeating: "x", count: 8193)), caller: f.caller)
            }
            await expectKMSError(.tag) {
                try await f.engine.createKey(CreateKeyRequest(tags: [Tag(tagKey: "aws:x", tagValue: "y")]), caller: f.caller)
            }
            await expectKMSError(.malformedPolicyDocument) {
                try await f.engine.createKey(CreateKeyRequest(policy: "not json"), caller: f.caller)
            }
            var multi = CreateKeyRequest()
            multi.multiRegion = true
            await expectKMSError(.unsupportedOperation) { try await f.engine.createKey(multi, caller: f.caller) }
            var store = CreateKeyRequest()
            store.customKeyStoreId = "cks-1"
            await expectKMSError(.validation, "a custom key store needs Origin AWS_CLOUDHSM") {
                try await f.engine.createKey(store, caller: f.caller)
            }
            store.origin = .awsCloudHSM
            await expectKMSError(.customKeyStoreNotFound) { try await f.engine.createKey(store, caller: f.caller) }
            await expectKMSError(.unsupportedOperation) {
                try await f.engine.createKey(CreateKeyRequest(keyUsage: .signVerify, keySpec: .eccNistP256, origin: .external),
                                             caller: f.caller)
            }
        }
    }

    /// AWS defaults KeyUsage only for SYMMETRIC_DEFAULT: every other spec,
    /// HMAC's single-usage ones included, answers ValidationException without it.
    @Test(arguments: KeyStorageMode.allCases)
    func keyUsageIsRequiredForEverySpecButSymmetricDefault(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            for spec in KeySpec.allCases where spec != .symmetricDefault {
                await expectKMSError(.validation, "\(spec.rawValue)") {
                    try await f.engine.createKey(CreateKeyRequest(keySpec: spec), caller: f.caller)
                }
            }
            let symmetric = try await f.engine.createKey(CreateKeyRequest(), caller: f.caller).keyMetadata
            #expect(symmetric.keyUsage == .encryptDecrypt)
            let hmac = try await f.engine.createKey(CreateKeyRequest(keyUsage: .generateVerifyMac, keySpec: .hmac256), caller: f.caller)
            #expect(hmac.keyMetadata.keySpec == .hmac256)
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func specsTheTokenCannotDoAreRefusedFromItsProfile(mode: KeyStorageMode) async throws {
        try await withEngine(mode, configure: { c in
            c.adjustProfile = { $0.with(ecCurves: [.p256], supportsEd25519: false) }
        }) { f in
            for spec in [KeySpec.eccSecgP256k1, .eccNistP384, .eccNistEdwards25519] {
                await expectKMSError(.unsupportedOperation, "\(spec)") { try await f.createKey(spec) }
            }
            try await f.createKey(.eccNistP256)
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func defaultPolicyGrantsTheCreator(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let policy = try await f.engine.getKeyPolicy(GetKeyPolicyRequest(keyId: key.keyId), caller: f.caller)
            #expect(policy.policyName == "default")
            let json = try JSONSerialization.jsonObject(with: Data(policy.policy.utf8)) as? [String: Any]
            let statement = (json?["Statement"] as? [[String: Any]])?.first
            let unix = (statement?["Principal"] as? [String: Any])?["Unix"] as? [String: Any]
            #expect(unix?["Uid"] as? [Int] == [1000])
            #expect(unix?["User"] as? [String] == ["tester"])
            #expect(statement?["Action"] as? String == "kms:*")
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func listKeysPages(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            var created = Set<String>()
            for _ in 0..<7 { created.insert(try await f.createKey().keyId) }
            var seen: [String] = []
            var marker: String?
            var pages = 0
            repeat {
                let page = try await f.engine.listKeys(ListKeysRequest(limit: 3, marker: marker), caller: f.caller)
                seen += page.keys.map(\.keyId)
                #expect(page.keys.allSatisfy { $0.keyArn.hasSuffix($0.keyId) })
                #expect(page.truncated == (page.nextMarker != nil))
                marker = page.nextMarker
                pages += 1
            } while marker != nil
            #expect(pages == 3)
            #expect(Set(seen) == created && seen.count == 7)
            await expectKMSError(.invalidMarker) { try await f.engine.listKeys(ListKeysRequest(marker: "nonsense"), caller: f.caller) }
            await expectKMSError(.validation) { try await f.engine.listKeys(ListKeysRequest(limit: 0), caller: f.caller) }
            await expectKMSError(.validation) { try await f.engine.listKeys(ListKeysRequest(limit: 1001), caller: f.caller) }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func describeFindsByIdArnAliasAndAliasArn(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/app", targetKeyId: key.keyId), caller: f.caller)
            for id in [key.keyId, key.arn, "alias/app", "arn:aws:kms:local:000000000000:alias/app"] {
                #expect(try await f.engine.describeKey(KeyIdRequest(keyId: id), caller: f.caller).keyMetadata.keyId == key.keyId)
            }
            await expectKMSError(.notFound) { try await f.engine.describeKey(KeyIdRequest(keyId: UUID().uuidString.lowercased()), caller: f.caller) }
            await expectKMSError(.notFound) { try await f.engine.describeKey(KeyIdRequest(keyId: "alias/none"), caller: f.caller) }
            await expectKMSError(.notFound) {
                try await f.engine.describeKey(KeyIdRequest(keyId: "arn:aws:kms:us-east-1:111122223333:key/\(key.keyId)"), caller: f.caller)
            }
            await expectKMSError(.invalidArn) { try await f.engine.describeKey(KeyIdRequest(keyId: "arn:aws:s3:::bucket"), caller: f.caller) }
            await expectKMSError(.validation) { try await f.engine.describeKey(KeyIdRequest(keyId: nil), caller: f.caller) }
            // Management operations take key ids and ARNs, not aliases.
            await expectKMSError(.notFound) { try await f.engine.disableKey(KeyIdRequest(keyId: "alias/app"), caller: f.caller) }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func disabledKeysRefuseCryptographyAndComeBack(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let blob = try await f.encrypt(key.keyId, "hello")
            _ = try await f.engine.updateKeyDescription(UpdateKeyDescriptionRequest(keyId: key.keyId, description: "payments"),
                                                        caller: f.caller)
            _ = try await f.engine.disableKey(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            let described = try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata
            #expect(described.keyState == .disabled && !described.enabled && described.description == "payments")
            await expectKMSError(.disabled) { try await f.encrypt(key.keyId, "x") }
            await expectKMSError(.disabled) { try await f.decrypt(blob) }
            await expectKMSError(.disabled) {
                try await f.engine.generateDataKey(GenerateDataKeyRequest(keyId: key.keyId, keySpec: .aes256), caller: f.caller)
            }
            _ = try await f.engine.enableKey(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            #expect(try await f.decrypt(blob) == "hello")
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func deletionWaitsForTheWindowThenDestroysTheMaterial(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey(.eccNistP256)
            let other = try await f.createKey()
            _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/doomed", targetKeyId: key.keyId), caller: f.caller)
            await expectKMSError(.validation) {
                try await f.engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: key.keyId, pendingWindowInDays: 6), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: key.keyId, pendingWindowInDays: 31), caller: f.caller)
            }
            let scheduled = try await f.engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: key.keyId, pendingWindowInDays: 7),
                                                                   caller: f.caller)
            #expect(scheduled.keyState == .pendingDeletion && scheduled.pendingWindowInDays == 7)
            #expect(scheduled.deletionDate == f.clock.now.addingTimeInterval(7 * 86_400))
            let sign = SignRequest(keyId: key.keyId, message: Data("m".utf8), signingAlgorithm: .ecdsaSHA256)
            await expectKMSError(.kmsInvalidState) { try await f.engine.sign(sign, caller: f.caller) }
            await expectKMSError(.kmsInvalidState) {
                try await f.engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: key.keyId), caller: f.caller)
            }
            // Cancelling restores the key, disabled.
            _ = try await f.engine.cancelKeyDeletion(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata.keyState == .disabled)
            await expectKMSError(.kmsInvalidState) { try await f.engine.cancelKeyDeletion(KeyIdRequest(keyId: key.keyId), caller: f.caller) }

            // Scheduled again: nothing happens before the window ends...
            _ = try await f.engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: key.keyId, pendingWindowInDays: 7), caller: f.caller)
            f.clock.advance(days: 6.9)
            #expect(try await f.engine.runScheduledTasks().deleted.isEmpty)
            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata.keyState == .pendingDeletion)
            // ...and after it the key and its material are gone.
            f.clock.advance(days: 0.2)
            #expect(try await f.engine.runScheduledTasks().deleted == [key.keyId])
            await expectKMSError(.notFound) { try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller) }
            await expectKMSError(.notFound) { try await f.engine.describeKey(KeyIdRequest(keyId: "alias/doomed"), caller: f.caller) }
            #expect(try await f.store.versions(keyID: key.keyId).isEmpty)
            #expect(try f.ourTokenObjects().allSatisfy { !$0.contains(key.keyId) })
            if mode == .token { #expect(try f.ourTokenObjects().count == 1, "only the other key's object remains") }
            #expect(try await f.decrypt(try await f.encrypt(other.keyId, "still here")) == "still here")
        }
    }
}
