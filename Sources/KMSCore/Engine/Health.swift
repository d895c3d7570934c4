import PKCS11
/// What `GET /health` reports about the engine's dependencies.
public struct EngineHealth: Sendable, Codable, Hashable {
    public var tokenPresent: Bool
    public var loggedIn: Bool
    public var storeWritable: Bool
    public var sessionsOpen: Int
    public var sessionsBorrowed: Int
    public var sessionsMax: Int
    public var keysUnavailable: [String]
    /// Keys whose stored metadata failed its integrity check, with what failed.
    public var metadataTampered: [String: String]
    /// Whether keys unwrapped under the domain key are forced non-extractable;
    /// nil without a domain key (token storage).
    public var unwrapTemplateEnforced: Bool?

    public var isHealthy: Bool { tokenPresent && loggedIn && storeWritable && metadataTampered.isEmpty }
}

extension KMSEngine {
    public func health() async -> EngineHealth {
        let slot = pool.token.slot
        let present = (try? await pool.runBlocking { try slot.info().isTokenPresent }) ?? false
        let loggedIn = await pool.isHealthy()
        let stats = pool.statistics
        return EngineHealth(tokenPresent: present, loggedIn: loggedIn, storeWritable: await store.isWritable(),
                            sessionsOpen: stats.openSessions, sessionsBorrowed: stats.borrowedSessions,
                            sessionsMax: stats.maxSessions, keysUnavailable: reconciliation.keysMarkedUnavailable,
                            metadataTampered: store.tamperedKeys, unwrapTemplateEnforced: unwrapEnforcement?.isEnforced)
    }

    public var sessionStatistics: SessionPool.Statistics { pool.statistics }
}
