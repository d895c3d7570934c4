import Foundation
import PKCS11

/// A throwaway SoftHSM2 environment for one test process: its own directory
/// under the system temp dir, its own `SOFTHSM2_CONF`, removed at exit.
/// Every test makes its own token in it with `makeToken()`, so tests can run
/// in parallel and twice in a row without seeing each other's objects.
public final class SoftHSMTestEnvironment: Sendable {
    public let directory: String
    public let module: PKCS11Module

    nonisolated(unsafe) private static var cleanupDirectory: String?
    private static let sharedResult: Result<SoftHSMTestEnvironment, any Error> = Result {
        try SoftHSMTestEnvironment()
    }

    /// The process's environment, created on first use.
    public static func shared() throws -> SoftHSMTestEnvironment {
        try sharedResult.get()
    }

    private init() throws {
        var template = Array((NSTemporaryDirectory() + "/p11kms-softhsm-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PKCS11UsageError("cannot create a temporary directory for SoftHSM2")
        }
        directory = String(cString: made)
        let tokens = directory + "/tokens"
        try FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let config = directory + "/softhsm2.conf"
        try SoftHSM.writeConfig(tokenDirectory: tokens, to: config)
        Self.cleanupDirectory = directory
        atexit {
            if let dir = SoftHSMTestEnvironment.cleanupDirectory {
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
        module = try SoftHSM.load(configPath: config)
    }

    /// A fresh token with random SO and user PINs.
    public func makeToken(label: String? = nil) throws -> TestToken {
        let label = label ?? "test-" + randomHex(8)
        let soPIN = randomHex(16)
        let userPIN = randomHex(16)
        let token = try SoftHSM.initToken(module: module, label: label, soPIN: PIN(soPIN), userPIN: PIN(userPIN))
        return TestToken(token: token, soPIN: soPIN, userPIN: userPIN)
    }
}

/// A token made for one test, with its PINs (test PINs are not secrets).
public struct TestToken: Sendable {
    public let token: Token
    public let soPIN: String
    public let userPIN: String

    public var module: PKCS11Module { token.module }

    /// A session pool logged in as the user.
    /// A pool whose borrowers wait up to ten minutes for a session: tests
    /// run in parallel on a 2-thread cooperative pool, and under the whole
    /// suite a queue that takes a second alone can take minutes.
    public func makePool(maxSessions: Int = 4) throws -> SessionPool {
        try SessionPool(token: token, pin: PIN(userPIN),
                        configuration: .init(maxSessions: maxSessions, checkoutTimeout: .seconds(600)))
    }

    /// A session of its own, logged in as the user; close it when done.
    public func openUserSession() throws -> Session {
        let session = try token.openSession()
        try session.login(.user, pin: PIN(userPIN))
        return session
    }
}

func randomHex(_ bytes: Int) -> String {
    var rng = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
}
