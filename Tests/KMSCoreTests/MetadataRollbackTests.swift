import Foundation
@testable import KMSCore
import KMSModel
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Synchronization
import Testing

/// Rows put back from an earlier moment keep valid seals; the token's
/// metadata anchor catches them at the next start (issue #14).
@Suite("Metadata rollback")
struct MetadataRollbackTests {
    static let caller = Principal(uid: 1000, gid: 1000)

    final class Notes: Sendable {
        let lines = Mutex<[String]>([])
    }

    struct Setup {
        let token: TestToken
        let pool: SessionPool
        let directory: String
        let notes = Notes()

        var path: String { directory + "/metadata.sqlite" }

        /// A daemon start on the database at `path`: a new store and engine.
        func start(_ path: String? = nil, lease: UInt64 = 1024) async throws -> (SealedMetadataStore, KMSEngine) {
            let notes = self.notes
            let store = SealedMetadataStore(
                inner: try SQLiteMetadataStore(path: path ?? self.path), sealer: try await HSMMetadataSealer(pool: pool),
                anchor: HSMMetadataAnchor(pool: pool), onTamper: { note in notes.lines.withLock { $0.append(note) } })
            var configuration = KMSConfiguration(keyStorage: .wrapped, encryptionLease: lease)
            configuration.accessControl = AccessControl(admins: PrincipalSet(uids: [1000]), keyCreators: PrincipalSet(uids: [1000]))
            return (store, try await KMSEngine(pool: pool, store: store, configuration: configuration))
        }
    }

    func setUp() throws -> Setup {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let session = try token.openUserSession()
        try TokenSetup.ensureDomainKey(session)
        try TokenSetup.ensureSealKey(session)
        try session.close()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rollback-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return Setup(token: token, pool: try token.makePool(), directory: directory)
    }

    /// A new key whose rows are in a bucket none of `others` is in, so the
    /// test can tell a held key from an innocent one.
    func createKey(_ engine: KMSEngine, apartFrom others: [String]) async throws -> String {
        let taken = Set(others.map(MetadataAnchorValue.bucket(ofKey:)))
        while true {
            let id = try await engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
            if !taken.contains(MetadataAnchorValue.bucket(ofKey: id)) { return id }
        }
    }

    func encrypt(_ engine: KMSEngine, _ keyID: String) async throws -> Data {
        try await engine.encrypt(EncryptRequest(keyId: keyID, plaintext: Data("x".utf8)), caller: Self.caller).ciphertextBlob
    }

    @Test func anOldRowPutBackIsCaughtAtStartAndAcknowledgedByAnAdmin() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let (_, engine) = try await s.start()
        let victim = try await createKey(engine, apartFrom: [])
        let bystander = try await createKey(engine, apartFrom: [victim])
        let raw = try SQLiteMetadataStore(path: s.path)
        let enabledRow = try #require(try await raw.key(id: victim))

        // The key is scheduled for deletion; its old, validly sealed Enabled row is put back.
        _ = try await engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: victim), caller: Self.caller)
        try await raw.update(enabledRow)
        #expect(try await raw.key(id: victim)?.state == .enabled, "the replayed row is in the database")

        let (store, restarted) = try await s.start()
        await expectKMSError(.kmsInvalidState) { try await encrypt(restarted, victim) }
        _ = try await encrypt(restarted, bystander)
        let health = await restarted.health()
        #expect(health.metadataTampered[victim]?.contains("anchor") == true, "\(health.metadataTampered)")
        #expect(health.metadataTampered[bystander] == nil && !health.isHealthy)
        #expect(s.notes.lines.withLock { $0.contains { $0.contains(victim) && $0.contains("earlier moment") } })
        #expect(store.anchorFindings.keys.sorted() == [victim])

        // An admin accepts the database as it is; after a restart the key serves.
        #expect(try await restarted.acknowledgeMetadataRollback().keys.sorted() == [victim])
        #expect(try await restarted.acknowledgeMetadataRollback().isEmpty, "nothing left to acknowledge")
        let (_, accepted) = try await s.start()
        _ = try await encrypt(accepted, victim)
        #expect(await accepted.health().metadataTampered.isEmpty)
    }

    @Test func aWholeDatabaseRestoredFromABackupHoldsOnlyTheKeysChangedSince() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let (store, engine) = try await s.start(lease: 2)
        let revoked = try await createKey(engine, apartFrom: [])
        let used = try await createKey(engine, apartFrom: [revoked])
        let untouched = try await createKey(engine, apartFrom: [revoked, used])
        let inner = try SQLiteMetadataStore(path: s.path)
        let backup = s.directory + "/backup.sqlite"
        try await inner.backup(to: backup)

        // After the backup: one key is disabled, another makes enough
        // encryptions to lease more of its counter, and a key is created.
        _ = try await engine.disableKey(KeyIdRequest(keyId: revoked), caller: Self.caller)
        for _ in 0..<5 { _ = try await encrypt(engine, used) }
        let later = try await createKey(engine, apartFrom: [revoked, used, untouched])
        _ = store

        // The backup is restored over the database.
        let (_, restored) = try await s.start(backup)
        await expectKMSError(.kmsInvalidState, "disabled since: the restored Enabled row is refused") {
            try await encrypt(restored, revoked)
        }
        await expectKMSError(.kmsInvalidState, "its encryption counter went back") { try await encrypt(restored, used) }
        _ = try await encrypt(restored, untouched)
        await expectKMSError(.notFound) { try await encrypt(restored, later) }
        // Keys that share a bucket with a key created since the backup are
        // held too (createKey(apartFrom:) may have made and kept such keys).
        let live = Set(try await SQLiteMetadataStore(path: s.path).keys(after: nil, limit: 1000).map(\.keyID))
        let restoredKeys = Set(try await SQLiteMetadataStore(path: backup).keys(after: nil, limit: 1000).map(\.keyID))
        let newBuckets = Set(live.subtracting(restoredKeys).map(MetadataAnchorValue.bucket(ofKey:)))
        let sharing = restoredKeys.filter { newBuckets.contains(MetadataAnchorValue.bucket(ofKey: $0)) }
        let held = await restored.health().metadataTampered
        #expect(Set(held.keys) == Set([revoked, used]).union(sharing), "held: \(held), untouched \(untouched), later \(later)")
        #expect(held[untouched] == nil || sharing.contains(untouched))
    }

    @Test("concurrent encryptions never run past the lease the store holds, and the next lease is taken ahead")
    func encryptionsStayWithinThePersistedLease() async throws {
        // A crash may only overcount: whenever an encryption has returned, the
        // store must already hold a reservation covering it. With the anchor,
        // a lease write takes milliseconds; requests arriving meanwhile must
        // wait for it rather than encrypt under a lease not yet on disk.
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let (store, engine) = try await s.start(lease: 8)
        let key = try await createKey(engine, apartFrom: [])
        let done = LeaseCounter(), overrun = LeaseCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<96 {
                group.addTask {
                    _ = try await encrypt(engine, key)
                    let completed = UInt64(done.add())
                    let reserved = try await store.version(keyID: key, version: 1)?.encryptionsReserved ?? 0
                    if reserved < completed { overrun.add() }
                }
            }
            try await group.waitForAll()
        }
        #expect(overrun.value == 0, "\(overrun.value) encryptions returned before the store held a lease covering them")
        let reserved = try await store.version(keyID: key, version: 1)?.encryptionsReserved ?? 0
        #expect(reserved >= 96 && reserved <= 96 + 2 * 8, "leases of 8, one taken ahead: \(reserved)")
    }

    @Test func aStoreWithoutChangesStartsCleanAgainAndAgain() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let (_, engine) = try await s.start()
        let key = try await createKey(engine, apartFrom: [])
        _ = try await engine.createAlias(AliasRequest(aliasName: "alias/k", targetKeyId: key), caller: Self.caller)
        _ = try await engine.rotateKeyOnDemand(KeyIdRequest(keyId: key), caller: Self.caller)
        _ = try await engine.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: key), caller: Self.caller)
        _ = try await engine.cancelKeyDeletion(KeyIdRequest(keyId: key), caller: Self.caller)
        _ = try await engine.enableKey(KeyIdRequest(keyId: key), caller: Self.caller)
        _ = try await engine.createGrant(CreateGrantRequest(keyId: key, granteePrincipal: "unix:uid:1001", operations: [.encrypt]),
                                         caller: Self.caller)
        for _ in 0..<2 {
            let (_, again) = try await s.start()
            #expect(await again.health().metadataTampered.isEmpty)
            _ = try await encrypt(again, "alias/k")
        }
    }

    /// An anchor whose writes after the first can be made to fail: the
    /// final write of a change (the one without pending digests) as if the
    /// process died after its commit, or the first (pending) one.
    final class CrashingAnchor: MetadataAnchor {
        enum Fail: Sendable { case final, pending }
        let inner: HSMMetadataAnchor
        let fail: Fail
        let writes = Mutex(0)
        struct Died: Error {}
        init(inner: HSMMetadataAnchor, fail: Fail) {
            self.inner = inner
            self.fail = fail
        }
        func read() async throws -> MetadataAnchorValue? { try await inner.read() }
        func write(_ value: MetadataAnchorValue) async throws {
            let n = writes.withLock { n in n += 1; return n }
            if n > 1 && (fail == .final) == value.pending.isEmpty { throw Died() }
            try await inner.write(value)
        }
    }

    @Test func aCrashAfterACommitLeavesAStoreThatStartsCleanly() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let store = SealedMetadataStore(inner: try SQLiteMetadataStore(path: s.path), sealer: try await HSMMetadataSealer(pool: s.pool),
                                        anchor: CrashingAnchor(inner: HSMMetadataAnchor(pool: s.pool), fail: .final))
        var configuration = KMSConfiguration(keyStorage: .wrapped)
        configuration.accessControl = AccessControl(keyCreators: PrincipalSet(uids: [1000]))
        let engine = try await KMSEngine(pool: s.pool, store: store, configuration: configuration)
        let key = try await engine.createKey(CreateKeyRequest(), caller: Self.caller).keyMetadata.keyId
        _ = try await engine.disableKey(KeyIdRequest(keyId: key), caller: Self.caller)

        let (_, restarted) = try await s.start()
        #expect(await restarted.health().metadataTampered.isEmpty, "the committed change was anchored as pending")
        await expectKMSError(.disabled) { try await encrypt(restarted, key) }
    }

    @Test func aChangeWhoseAnchorCannotBeWrittenIsNotCommitted() async throws {
        let s = try setUp()
        defer { Task { try? await s.pool.shutdown(); try? FileManager.default.removeItem(atPath: s.directory) } }
        let store = SealedMetadataStore(inner: try SQLiteMetadataStore(path: s.path), sealer: try await HSMMetadataSealer(pool: s.pool),
                                        anchor: CrashingAnchor(inner: HSMMetadataAnchor(pool: s.pool), fail: .pending))
        var configuration = KMSConfiguration(keyStorage: .wrapped)
        configuration.accessControl = AccessControl(keyCreators: PrincipalSet(uids: [1000]))
        let engine = try await KMSEngine(pool: s.pool, store: store, configuration: configuration)
        await #expect(throws: (any Error).self) { try await engine.createKey(CreateKeyRequest(), caller: Self.caller) }
        #expect(try await SQLiteMetadataStore(path: s.path).keys(after: nil, limit: 10).isEmpty)
        let (_, restarted) = try await s.start()
        #expect(await restarted.health().metadataTampered.isEmpty)
    }

    @Test func theAnchorSurvivesACrashBetweenItsTwoObjects() throws {
        var a = MetadataAnchorValue(buckets: Array(repeating: Array(repeating: 1, count: 32), count: MetadataAnchorValue.bucketCount))
        a.pending[5] = Array(repeating: 2, count: 32)
        let parsed = try #require(MetadataAnchorValue(bytes: a.bytes))
        #expect(parsed == a)
        #expect(parsed.accepts(Array(repeating: 2, count: 32), bucket: 5) && parsed.accepts(Array(repeating: 1, count: 32), bucket: 5))
        #expect(!parsed.accepts(Array(repeating: 2, count: 32), bucket: 6))
        #expect(MetadataAnchorValue(bytes: Array(a.bytes.dropLast())) == nil, "a cut value is refused")
    }
}

/// An atomic count shared by the tasks of one test.
private final class LeaseCounter: Sendable {
    private let atomic = Atomic<Int>(0)
    @discardableResult func add() -> Int { atomic.add(1, ordering: .relaxed).newValue }
    var value: Int { atomic.load(ordering: .relaxed) }
}
