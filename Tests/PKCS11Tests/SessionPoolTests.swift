import Foundation
import PKCS11
import SoftHSMTestSupport
import Testing

@Suite("Session pool")
struct SessionPoolTests {
    /// Sessions this process has open on the token, as the token sees them.
    /// SoftHSM2 does not report `ulSessionCount`, but its handles come from one
    /// counter shared by sessions and objects, so every live session has a
    /// handle below a session opened now: ask it about each of those.
    func openSessionCount(_ token: Token) throws -> Int {
        if let count = try token.info().sessionCount { return count }
        let probe = try token.openSession(readWrite: false)
        let newest = probe.handle.rawValue
        try probe.close()
        return (1..<max(newest, 1)).filter { raw in
            let info = try? Session(module: token.module, handle: SessionHandle(rawValue: raw)).info()
            return info?.slotID == token.slot.id
        }.count
    }

    @Test func concurrentMixedOperationsAreCorrectAndLeakNoSession() async throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        // Keys live as token objects so every pool session sees them.
        let setup = try test.openUserSession()
        defer { try? setup.close() }
        let aes = try setup.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt, token: true))
        let hmac = try setup.generateKey(.genericSecret(bytes: 32), KeyOptions(usage: .signVerify, token: true))
        let ec = try setup.generateKeyPair(.ec(.p256), KeyOptions(usage: .signVerify, token: true))

        let pool = try test.makePool(maxSessions: 4)
        let before = try openSessionCount(test.token)
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<32 {
                group.addTask {
                    var failures = 0
                    for i in 0..<200 {
                        let message = Array("task \(task) op \(i)".utf8)
                        let ok: Bool = try await pool.withSession { s in
                            switch i % 4 {
                            case 0:
                                let box = try s.aesGCMSeal(message, key: aes, aad: [UInt8(task)])
                                return try s.aesGCMOpen(box, key: aes, aad: [UInt8(task)]) == message
                            case 1:
                                let mac = try s.sign(message, key: hmac, mechanism: .sha256HMAC)
                                return try s.verify(message, signature: mac, key: hmac, mechanism: .sha256HMAC)
                                    && !s.verify(message + [1], signature: mac, key: hmac, mechanism: .sha256HMAC)
                            case 2:
                                let digest = try s.digest(message, mechanism: .sha256)
                                let sig = try s.sign(digest, key: ec.privateKey, mechanism: .ecdsa)
                                return try s.verify(digest, signature: sig, key: ec.publicKey, mechanism: .ecdsa)
                            default:
                                return try s.generateRandom(count: 32).count == 32
                            }
                        }
                        if !ok { failures += 1 }
                    }
                    return failures
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 0)
        let stats = pool.statistics
        #expect(stats.borrowedSessions == 0 && stats.waiting == 0)
        #expect(stats.openSessions <= 4 && stats.openSessions >= 1)
        #expect(stats.generation == 0)
        // The token sees exactly the sessions the pool says it keeps idle: none leaked.
        let after = try openSessionCount(test.token)
        #expect(after == before + stats.openSessions, "before \(before), after \(after), pool \(stats)")
        try await pool.shutdown()
        // After shutdown only the setup session remains.
        #expect(try openSessionCount(test.token) == 1)
    }

    @Test func sessionClosedBehindThePoolsBackIsReplaced() async throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        let pool = try test.makePool(maxSessions: 1)
        // Borrow the only session and close it without telling the pool.
        let closed = try await pool.withSession { s in
            try s.close()
            return s.handle
        }
        #expect(pool.statistics.generation == 0)
        let (handle, random) = try await pool.withSession { s in (s.handle, try s.generateRandom(count: 16)) }
        #expect(random.count == 16)
        #expect(handle != closed)
        #expect(pool.statistics.generation == 1)
        #expect(pool.statistics.openSessions == 1)
        try await pool.shutdown()
    }

    @Test func poolLogsInAgainAfterEverySessionIsClosed() async throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        let pool = try test.makePool(maxSessions: 2)
        let key = try await pool.withSession { s in
            try s.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt, token: true, label: "survivor"))
        }
        let sealed = try await pool.withSession { s in try s.aesGCMSeal([4, 2], key: key) }
        #expect(await pool.isHealthy())
        // C_CloseAllSessions also logs the application out...
        try test.token.slot.closeAllSessions()
        let anchorAfterLoss = try await pool.runBlocking {
            try test.token.slot.tokenInfo()
        }
        #expect(anchorAfterLoss.isInitialized)
        let random = try await pool.withSession { s in try s.generateRandom(count: 8) }
        #expect(random.count == 8)
        #expect(await pool.isHealthy(), "logged in again")
        // Object handles may not survive the loss (SoftHSM2 renumbers them):
        // the generation tells callers to find their token objects again.
        #expect(pool.statistics.generation >= 1)
        let plaintext = try await pool.withSession { s in
            let found = try s.findObjects([.label("survivor")])
            guard found.count == 1 else { return [UInt8]() }
            return try s.aesGCMOpen(sealed, key: found[0])
        }
        #expect(plaintext == [4, 2], "the private token key is usable again, so the pool is logged in")
        try await pool.shutdown()
    }

    @Test func everyRequestSucceedsAfterAllIdleSessionsDied() async throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        let pool = try test.makePool(maxSessions: 3)
        // Three sessions borrowed at once, so three lie idle afterwards.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask { try await pool.withSession { _ in Thread.sleep(forTimeInterval: 0.1) } }
            }
            try await group.waitForAll()
        }
        #expect(pool.statistics.idleSessions == 3)
        try test.token.slot.closeAllSessions()
        for _ in 0..<4 {
            #expect(try await pool.withSession { try $0.generateRandom(count: 4) }.count == 4)
        }
        #expect(pool.statistics.openSessions <= 3)
        try await pool.shutdown()
    }

    @Test func waitersQueueWhenEverySessionIsBorrowed() async throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        let pool = try test.makePool(maxSessions: 2)
        let handles = try await withThrowingTaskGroup(of: SessionHandle.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await pool.withSession { s in
                        _ = try s.generateRandom(count: 64)
                        return s.handle
                    }
                }
            }
            return try await group.reduce(into: Set<SessionHandle>()) { $0.insert($1) }
        }
        #expect(handles.count <= 2, "never more sessions than the bound")
        #expect(pool.statistics.openSessions <= 2)
        try await pool.shutdown()
    }

    @Test func healthLogsInAgainButReportsALoginThatCannotBeRestored() async throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        let pool = try test.makePool(maxSessions: 2)
        try test.token.slot.closeAllSessions()
        #expect(await pool.isHealthy(), "a restorable login is restored by the check itself")

        func setUserPIN(_ pin: String) throws {
            let so = try test.token.openSession()
            defer { try? so.close() }
            try so.login(.securityOfficer, pin: PIN(test.soPIN))
            try so.initUserPIN(PIN(pin))
            try so.logout()
        }
        // Login belongs to the whole process, so the security officer can
        // only log in once every session (the pool's too) is closed.
        try test.token.slot.closeAllSessions()
        try setUserPIN("changed")
        #expect(!(await pool.isHealthy()), "the PIN no longer works: the pool is honestly broken")
        // (Random bytes need no login; a private key does.)
        let error = await #expect(throws: PKCS11Error.self) {
            try await pool.withSession { try $0.generateKey(.aes(bits: 128), KeyOptions(usage: .encrypt)) }
        }
        #expect(error?.isPINFailure == true || error?.isSessionLost == true, "\(String(describing: error))")
        try setUserPIN(test.userPIN)
        #expect(await pool.isHealthy())
        #expect(try await pool.withSession { try $0.generateRandom(count: 2) }.count == 2)
        try await pool.shutdown()
    }

    @Test func wrongPINFailsPoolCreation() throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        let error = #expect(throws: PKCS11Error.self) {
            try SessionPool(token: test.token, pin: PIN("wrong"), configuration: .init(maxSessions: 1))
        }
        #expect(error?.code == .pinIncorrect)
        #expect(try openSessionCount(test.token) == 0, "the anchor session is closed again")
    }
}
