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

    @Test("with min_period_days = 1, a daily key rotates exactly once a day, across a restart and after downtime")
    func shortPeriodsRotateOncePerPeriodAcrossRestarts() async throws {
        let daily: (inout KMSConfiguration) -> Void = { $0.minimumRotationPeriodDays = 1 }
        var f = try await EngineFixture.make(.wrapped, configure: daily)
        do {
            try await Self.checkDailySchedule(&f, daily)
        } catch {
            await f.shutdown()
            throw error
        }
        await f.shutdown()
    }

    private static func checkDailySchedule(_ f: inout EngineFixture,
                                           _ daily: @escaping (inout KMSConfiguration) -> Void) async throws {
        let key = try await f.createKey()
        _ = try await f.engine.enableKeyRotation(EnableKeyRotationRequest(keyId: key.keyId, rotationPeriodInDays: 1), caller: f.caller)
        var status = try await f.engine.getKeyRotationStatus(KeyIdRequest(keyId: key.keyId), caller: f.caller)
        #expect(status.rotationPeriodInDays == 1 && status.nextRotationDate == f.clock.now.addingTimeInterval(86_400))

        f.clock.advance(days: 0.5)
        #expect(try await f.engine.runScheduledTasks().rotated.isEmpty, "not before its day is up")
        f.clock.advance(days: 0.5)
        #expect(try await f.engine.runScheduledTasks().rotated == [key.keyId])
        #expect(try await f.engine.runScheduledTasks().rotated.isEmpty, "a second run in the same period rotates nothing")

        // A restart in the same period: the schedule is in the store, not in memory.
        f = try await f.reopen(configure: daily)
        #expect(try await f.engine.runScheduledTasks().rotated.isEmpty, "a restart does not rotate again")
        f.clock.advance(days: 1)
        #expect(try await f.engine.runScheduledTasks().rotated == [key.keyId])

        // Five days down: one rotation on the way back up, not five, and the
        // next one a full period later.
        f = try await f.reopen(configure: daily)
        f.clock.advance(days: 5)
        #expect(try await f.engine.runScheduledTasks().rotated == [key.keyId])
        #expect(try await f.engine.runScheduledTasks().rotated.isEmpty)
        status = try await f.engine.getKeyRotationStatus(KeyIdRequest(keyId: key.keyId), caller: f.caller)
        #expect(status.nextRotationDate == f.clock.now.addingTimeInterval(86_400))
        let rotations = try await f.engine.listKeyRotations(ListKeyRotationsRequest(keyId: key.keyId), caller: f.caller)
        #expect(rotations.rotations.count == 3)

        // A disabled key is not rotated; once due it is reported overdue, and
        // rotated on the first run after it is enabled again.
        _ = try await f.engine.disableKey(KeyIdRequest(keyId: key.keyId), caller: f.caller)
        f.clock.advance(days: 1)
        var work = try await f.engine.runScheduledTasks()
        #expect(work.rotated.isEmpty && work.rotationOverdue == [key.keyId])
        _ = try await f.engine.enableKey(KeyIdRequest(keyId: key.keyId), caller: f.caller)
        work = try await f.engine.runScheduledTasks()
        #expect(work.rotated == [key.keyId] && work.rotationOverdue.isEmpty)

        // Without the setting the daemon keeps AWS's minimum, and says how to lower it.
        f = try await f.reopen()
        do {
            _ = try await f.engine.enableKeyRotation(EnableKeyRotationRequest(keyId: key.keyId, rotationPeriodInDays: 30), caller: f.caller)
            Issue.record("a 30-day period was accepted without [rotation] min_period_days")
        } catch let error as KMSError {
            #expect(error.name == .validation)
            #expect(error.message.contains("between 90 and 2560") && error.message.contains("min_period_days"), "\(error.message)")
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
