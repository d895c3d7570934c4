import Foundation
@testable import KMSCore
import KMSModel
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Testing

/// A KMS engine on a throwaway SoftHSM2 token with a domain key, a SQLite
/// store (in a temp file, so it can be reopened) and a manual clock.
struct EngineFixture {
    let token: TestToken
    let pool: SessionPool
    let engine: KMSEngine
    let store: SQLiteMetadataStore
    let storePath: String
    let clock: ManualClock
    let mode: KeyStorageMode
    let caller = Principal(uid: 1000, gid: 1000, userName: "tester")

    static func make(_ mode: KeyStorageMode, configure: (inout KMSConfiguration) -> Void = { _ in },
                     faults: FaultInjection = .init()) async throws -> EngineFixture {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let setup = try token.openUserSession()
        try TokenSetup.ensureDomainKey(setup)
        try setup.close()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-engine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try await open(token: token, storePath: dir.appendingPathComponent("metadata.sqlite").path,
                              clock: ManualClock(), mode: mode, configure: configure, faults: faults)
    }

    static func open(token: TestToken, storePath: String, clock: ManualClock, mode: KeyStorageMode,
                     configure: (inout KMSConfiguration) -> Void = { _ in },
                     faults: FaultInjection = .init()) async throws -> EngineFixture {
        var configuration = KMSConfiguration(keyStorage: mode)
        // The fixture's caller may create keys; everything else follows key policies.
        configuration.accessControl = AccessControl(keyCreators: PrincipalSet(uids: [1000]))
        configure(&configuration)
        let pool = try token.makePool(maxSessions: 4)
        let store = try SQLiteMetadataStore(path: storePath)
        let engine = try await KMSEngine(pool: pool, store: store, configuration: configuration, clock: clock, faults: faults)
        return EngineFixture(token: token, pool: pool, engine: engine, store: store, storePath: storePath,
                             clock: clock, mode: mode)
    }

    /// Closes the engine's pool and opens a new engine on the same token, store file and clock.
    func reopen(configure: (inout KMSConfiguration) -> Void = { _ in }, faults: FaultInjection = .init()) async throws -> EngineFixture {
        try await pool.shutdown()
        return try await Self.open(token: token, storePath: storePath, clock: clock, mode: mode,
                                   configure: configure, faults: faults)
    }

    func shutdown() async {
        try? await pool.shutdown()
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: storePath).deletingLastPathComponent().path)
    }

    @discardableResult
    /// A key of `spec`; its usage, unless given, the spec's first (AWS requires
    /// one in the request for every spec but SYMMETRIC_DEFAULT).
    func createKey(_ spec: KeySpec = .symmetricDefault, usage: KeyUsageType? = nil, origin: Origin? = nil) async throws -> KeyMetadata {
        let usage = usage ?? (spec == .symmetricDefault ? nil : spec.allowedUsages[0])
        return try await engine.createKey(CreateKeyRequest(keyUsage: usage, keySpec: spec, origin: origin), caller: caller).keyMetadata
    }

    func encrypt(_ keyId: String, _ text: String, context: [String: String]? = nil) async throws -> Data {
        try await engine.encrypt(EncryptRequest(keyId: keyId, plaintext: Data(text.utf8), encryptionContext: context),
                                 caller: caller).ciphertextBlob
    }

    func decrypt(_ blob: Data, context: [String: String]? = nil, keyId: String? = nil) async throws -> String {
        let r = try await engine.decrypt(DecryptRequest(ciphertextBlob: blob, encryptionContext: context, keyId: keyId),
                                         caller: caller)
        return String(decoding: r.plaintext, as: UTF8.self)
    }

    /// Token objects of ours (labels starting `p11kms/`), seen from a fresh session.
    func ourTokenObjects() throws -> [String] {
        let s = try token.openUserSession()
        defer { try? s.close() }
        return try s.findObjects([.token(true)]).map { try s.attribute(.label, of: $0).stringValue }
            .filter { $0.hasPrefix("p11kms/") }
    }
}

/// Runs `body` with a fixture in `mode`, shutting it down afterwards.
func withEngine(_ mode: KeyStorageMode, configure: (inout KMSConfiguration) -> Void = { _ in },
                faults: FaultInjection = .init(), _ body: (EngineFixture) async throws -> Void) async throws {
    let fixture = try await EngineFixture.make(mode, configure: configure, faults: faults)
    do {
        try await body(fixture)
    } catch {
        await fixture.shutdown()
        throw error
    }
    await fixture.shutdown()
}

/// Expects `body` to fail with the AWS exception `name`.
func expectKMSError<T>(_ name: KMSError.Name, _ comment: Comment? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async {
    do {
        _ = try await body()
        Issue.record("expected \(name.rawValue), but the call succeeded. \(comment?.rawValue ?? "")",
                     sourceLocation: sourceLocation)
    } catch let error as KMSError {
        #expect(error.name == name, "\(error) \(comment?.rawValue ?? "")", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(name.rawValue), got \(error). \(comment?.rawValue ?? "")", sourceLocation: sourceLocation)
    }
}
