import Foundation
import PKCS11

/// The embedded dev setup (DESIGN.md §8): a state directory holding a
/// SoftHSM2 token made from `softhsm-test.conf`, with its PINs in 0600 files.
/// Created on first use, reused afterwards.
public struct DevToken: Sendable {
    public static let label = "p11kms-dev"

    public let stateDirectory: String
    public let token: Token
    public let soPINFile: String
    public let userPINFile: String

    public var module: PKCS11Module { token.module }

    /// Creates (or reuses) `stateDirectory` and its token.
    public static func prepare(stateDirectory: String) throws -> DevToken {
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        let tokens = dir + "/tokens"
        for path in [dir, tokens] where !fm.fileExists(atPath: path) {
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let config = dir + "/softhsm2.conf"
        if !fm.fileExists(atPath: config) {
            try SoftHSM.writeConfig(tokenDirectory: tokens, to: config)
        }
        let module = try SoftHSM.load(configPath: config)
        let soPINFile = dir + "/so-pin"
        let userPINFile = dir + "/user-pin"
        if let token = try? module.token(label: label) {
            return DevToken(stateDirectory: dir, token: token, soPINFile: soPINFile, userPINFile: userPINFile)
        }
        // A new token: fresh random PINs, written owner-only before use.
        for file in [soPINFile, userPINFile] {
            var bytes = [UInt8](repeating: 0, count: 16)
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
            let pin = bytes.map { String(format: "%02x", $0) }.joined() + "\n"
            try? fm.removeItem(atPath: file)
            guard fm.createFile(atPath: file, contents: Data(pin.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw PKCS11UsageError("cannot write \(file)")
            }
        }
        let token = try SoftHSM.initToken(module: module, label: label,
                                          soPIN: PIN.fromFile(soPINFile), userPIN: PIN.fromFile(userPINFile))
        return DevToken(stateDirectory: dir, token: token, soPINFile: soPINFile, userPINFile: userPINFile)
    }

    public func userPIN() throws -> PIN { try PIN.fromFile(userPINFile) }

    /// A second dev token labelled `name`, for a custom key store: made on
    /// first use with random PINs in DIR/NAME.so-pin and DIR/NAME.user-pin
    /// (0600); the user PIN is what CreateCustomKeyStore's KeyStorePassword
    /// takes. Returns the user PIN file.
    public static func prepareExtra(stateDirectory: String, name: String) throws -> String {
        let dir = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        let module = try SoftHSM.load(configPath: dir + "/softhsm2.conf")
        let soPINFile = dir + "/\(name).so-pin", userPINFile = dir + "/\(name).user-pin"
        if (try? module.token(label: name)) != nil { return userPINFile }
        for file in [soPINFile, userPINFile] {
            let pin = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() + "\n"
            try? FileManager.default.removeItem(atPath: file)
            guard FileManager.default.createFile(atPath: file, contents: Data(pin.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw PKCS11UsageError("cannot write \(file)")
            }
        }
        _ = try SoftHSM.initToken(module: module, label: name, soPIN: PIN.fromFile(soPINFile), userPIN: PIN.fromFile(userPINFile))
        return userPINFile
    }
}
