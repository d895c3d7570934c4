import Foundation
import PKCS11

/// Where SoftHSM2 lives and how its configuration is written. Tests and dev
/// mode point `SOFTHSM2_CONF` at a file written from `softhsm-test.conf`
/// with a token directory of their own; nothing here touches the system store.
public enum SoftHSM {
    /// Debian/Ubuntu, Fedora and Homebrew install paths, after `$P11KMS_SOFTHSM_MODULE`.
    public static func modulePath() throws -> String {
        var candidates = [
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/lib64/pkcs11/libsofthsm2.so",
            "/usr/local/lib/softhsm/libsofthsm2.so",
            "/opt/homebrew/lib/softhsm/libsofthsm2.so",
        ]
        if let explicit = ProcessInfo.processInfo.environment["P11KMS_SOFTHSM_MODULE"] {
            candidates.insert(explicit, at: 0)
        }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw PKCS11UsageError("SoftHSM2 is not installed (no libsofthsm2.so found); run scripts/bootstrap")
        }
        return path
    }

    /// The `softhsm-test.conf` template: `$P11KMS_SOFTHSM_TEMPLATE`, the
    /// working directory, or the source checkout this code was built from.
    public static func templatePath() throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["P11KMS_SOFTHSM_TEMPLATE"] { candidates.append(explicit) }
        candidates.append(FileManager.default.currentDirectoryPath + "/softhsm-test.conf")
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(checkout.appendingPathComponent("softhsm-test.conf").path)
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw PKCS11UsageError("softhsm-test.conf not found; run from the p11kms checkout or set P11KMS_SOFTHSM_TEMPLATE")
        }
        return path
    }

    /// Writes a SoftHSM2 config for `tokenDirectory` to `configPath` (mode 0600).
    public static func writeConfig(tokenDirectory: String, to configPath: String) throws {
        let template = try String(contentsOfFile: templatePath(), encoding: .utf8)
        let config = template.replacingOccurrences(of: "@TOKENDIR@", with: tokenDirectory)
        guard FileManager.default.createFile(atPath: configPath, contents: Data(config.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw PKCS11UsageError("cannot write \(configPath)")
        }
    }

    /// Points this process's SoftHSM2 at `configPath` and loads the module.
    /// SoftHSM2 reads `SOFTHSM2_CONF` once, at `C_Initialize`, so this must
    /// happen before anything in the process loads the module.
    public static func load(configPath: String) throws -> PKCS11Module {
        ProcessEnvironment.withLock { _ = setenv("SOFTHSM2_CONF", configPath, 1) }
        return try PKCS11Module.load(path: modulePath())
    }

    /// Initialises a new token in the first free slot, sets its user PIN and
    /// returns it. SoftHSM2 then offers a new free slot.
    public static func initToken(module: PKCS11Module, label: String, soPIN: PIN, userPIN: PIN) throws -> Token {
        try tokenCreation.withLock {
            guard let free = try module.slots(withTokenOnly: true).first(where: { !(try $0.tokenInfo().isInitialized) }) else {
                throw PKCS11UsageError("SoftHSM2 offers no free slot")
            }
            let token = try free.initToken(soPIN: soPIN, label: label)
            let session = try token.openSession()
            defer { try? session.close() }
            try session.login(.securityOfficer, pin: soPIN)
            try session.initUserPIN(userPIN)
            try session.logout()
            return token
        }
    }

    private static let tokenCreation = NSLock()
}

extension NSLock {
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
