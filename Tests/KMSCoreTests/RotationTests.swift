import Foundation
@testable import KMSCore
import KMSModel
import Testing

@Suite("Rotation")
struct RotationTests {
    @Test(arguments: KeyStorageMode.allCases)
    func automaticRotationFollowsTheClockAndOldVersionsKeepDecrypting(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let v1 = try await f.encrypt(key.keyId, "from version 1")
            await expectKMSError(.validation) {
                try await f.engine.enableKeyRotation(EnableKeyRotationRequest(keyId: key.keyId, rotationPeriodInDays: 89), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.enableKeyRotation(EnableKeyRotationRequest(keyId: key.keyId, rotationPeriodInDays: 2561), caller: f.caller)
            }
            _ = try await f.engine.enableKeyRotation(EnableKeyRotationRequest(keyId: key.keyId, rotationPeriodInDays: 90), caller: f.caller)
            let status = try await f.engine.getKeyRotationStatus(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            #expect(status.keyRotationEnabled && status.rotationPeriodInDays == 90)
            #expect(status.nextRotationDate == f.clock.now.addingTimeInterval(90 * 86_400))

            f.clock.advance(days: 89)
            #expect(try await f.engine.runScheduledTasks().rotated.isEmpty)
            for round in 1...3 {
                f.clock.advance(days: round == 1 ? 1.5 : 90.5)
                #expect(try await f.engine.runScheduledTasks().rotated == [key.keyId])
            }
            let described = try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyMetadata
            #expect(described.currentKeyMaterialId != key.currentKeyMaterialId)
            // New encryptions use version 4; version 1's ciphertext still decrypts.
            let v4 = try await f.encrypt(key.keyId, "from version 4")
            #expect([UInt8](v4)[24] == 4)
            #expect(try await f.decrypt(v1) == "from version 1")
            #expect(try await f.decrypt(v4) == "from version 4")

            let rotations = try await f.engine.listKeyRotations(ListKeyRotationsRequest(keyId: key.keyId), caller: f.caller)
            #expect(rotations.rotations.count == 3 && rotations.rotations.allSatisfy { $0.rotationType == .automatic })
            #expect(rotations.rotations.last?.keyMaterialState == "CURRENT")
            let all = try await f.engine.listKeyRotations(ListKeyRotationsRequest(keyId: key.keyId, includeKeyMaterial: "ALL_KEY_MATERIAL", limit: 2),
                                                          caller: f.caller)
            #expect(all.rotations.count == 2 && all.truncated && all.rotations.first?.rotationType == nil)
            let rest = try await f.engine.listKeyRotations(
                ListKeyRotationsRequest(keyId: key.keyId, includeKeyMaterial: "ALL_KEY_MATERIAL", marker: all.nextMarker), caller: f.caller)
            #expect(rest.rotations.count == 2 && !rest.truncated)

            _ = try await f.engine.disableKeyRotation(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            f.clock.advance(days: 400)
            #expect(try await f.engine.runScheduledTasks().rotated.isEmpty)
            #expect(try await f.engine.getKeyRotationStatus(KeyIdRequest(keyId: key.keyId), caller: f.caller).keyRotationEnabled == false)
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func onDemandRotation(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let before = try await f.encrypt(key.keyId, "before")
            let r = try await f.engine.rotateKeyOnDemand(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            #expect(r.keyId == key.arn)
            let after = try await f.encrypt(key.keyId, "after")
            #expect([UInt8](after)[24] == 2)
            #expect(try await f.decrypt(before) == "before")
            #expect(try await f.decrypt(after) == "after")
            let rotations = try await f.engine.listKeyRotations(ListKeyRotationsRequest(keyId: key.keyId), caller: f.caller)
            #expect(rotations.rotations.map(\.rotationType) == [.onDemand])
            if mode == .token { #expect(try f.ourTokenObjects().count == 2) }

            _ = try await f.engine.disableKey(KeyIdRequest(keyId: key.keyId), caller: f.caller)
            await expectKMSError(.disabled) { try await f.engine.rotateKeyOnDemand(KeyIdRequest(keyId: key.keyId), caller: f.caller) }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func onlySymmetricKeysRotate(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            for spec in [KeySpec.eccNistP256, .hmac256, .rsa2048] {
                let key = try await f.createKey(spec)
                await expectKMSError(.unsupportedOperation) {
                    try await f.engine.enableKeyRotation(EnableKeyRotationRequest(keyId: key.keyId), caller: f.caller)
                }
                await expectKMSError(.unsupportedOperation) {
                    try await f.engine.rotateKeyOnDemand(KeyIdRequest(keyId: key.keyId), caller: f.caller)
                }
            }
        }
    }
}
