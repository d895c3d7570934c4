import Foundation
@testable import KMSCore
import KMSModel
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Testing

/// In wrapped storage, deleting a key destroys its own key-encryption key, so
/// a database backup taken before the deletion no longer decrypts anything
/// (issue #14, finding 2: before, the domain key never changed and a restored
/// row brought the deleted key back).
@Suite("Deletion destroys")
struct KeyDeletionDestroysTests {
    @Test func aBackupTakenBeforeDeletionNoLongerDecryptsAfterIt() async throws {
        let f = try await EngineFixture.make(.wrapped)
        let key = try await f.createKey()
        let ciphertext = try await f.encrypt(key.keyId, "gone for good")
        #expect(try await f.decrypt(ciphertext) == "gone for good")
        let blob = try #require(try await f.store.version(keyID: key.keyId, version: 1)?.wrappedKey)

        // The key's own KEK exists, and the blob is not under the domain key.
        let s = try f.token.openUserSession()
        let kek = try s.findObjects([.class(.secretKey), .token(true), .label("p11kms-kek/" + key.keyId)])
        #expect(kek.count == 1)
        #expect(try s.boolAttribute(.sensitive, of: kek[0]) && !s.boolAttribute(.extractable, of: kek[0]))
        let domain = try #require(try s.findObjects([.label(TokenSetup.domainKeyLabel)]).first)
        let wrap = try f.engine.profile.rfc5649WrapMechanism()
        let template = KeyVault.unwrapTemplate(spec: .symmetricDefault, usage: .encryptDecrypt)
        #expect(throws: PKCS11Error.self) { _ = try s.unwrapKey(blob, with: domain, mechanism: wrap, template: template) }
        try s.close()

        // A backup of the database (its WAL checkpointed into the file).
        let backup = f.storePath + ".backup"
        try await f.store.backup(to: backup)

        _ = try await f.engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: key.keyId, pendingWindowInDays: 7),
                                                   caller: f.caller)
        f.clock.advance(seconds: 8 * 86_400)
        let work = try await f.engine.runScheduledTasks()
        #expect(work.deleted == [key.keyId], "\(work)")
        let after = try f.token.openUserSession()
        #expect(try after.findObjects([.label("p11kms-kek/" + key.keyId)]).isEmpty)
        try after.close()

        // Restore the backup and restart: the key's rows are back, its material is not.
        try await f.pool.shutdown()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: f.storePath + suffix) }
        try FileManager.default.moveItem(atPath: backup, toPath: f.storePath)
        let restored = try await EngineFixture.open(token: f.token, storePath: f.storePath, clock: f.clock, mode: .wrapped)
        defer { Task { await restored.shutdown() } }
        #expect(try await restored.store.key(id: key.keyId) != nil, "the backup holds the key's rows")
        let refused = await #expect(throws: KMSError.self) { _ = try await restored.decrypt(ciphertext) }
        #expect(refused?.name == .keyUnavailable, "\(String(describing: refused))")

        // Keys made after the restore work as ever.
        let other = try await restored.createKey()
        #expect(try await restored.decrypt(try await restored.encrypt(other.keyId, "fine")) == "fine")
    }
}
