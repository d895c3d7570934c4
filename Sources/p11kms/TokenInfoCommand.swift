import ArgumentParser
import Foundation
import KMSAuditFormat
import KMSTokenSetup
import PKCS11

/// `p11kms token info`: C_GetTokenInfo of one token.
struct TokenInfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show a token's information (label, serial, flags, PIN lengths, sessions).")

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        let t = try token.info()
        // The audit key's public half needs no login; its fingerprint is what
        // `audit verify --key-fingerprint` pins.
        let auditKeyFingerprint: String? = try {
            let session = try token.openSession(readWrite: false)
            defer { try? session.close() }
            guard let key = try session.findObjects([.class(.publicKey), .label(TokenSetup.auditKeyLabel)]).first else { return nil }
            return AuditPublicKey.fingerprint(try session.subjectPublicKeyInfo(of: key))
        }()
        func count(_ v: Int?) -> JSONValue { v.map(JSONValue.int) ?? .string("unavailable") }
        let object: [String: JSONValue] = [
            "slot": .int(Int(token.slot.id.rawValue)),
            "label": .string(t.label), "manufacturer": .string(t.manufacturerID), "model": .string(t.model),
            "serial": .string(t.serialNumber),
            "initialized": .bool(t.isInitialized), "login_required": .bool(t.isLoginRequired),
            "user_pin_initialized": .bool(t.isUserPINInitialized), "rng": .bool(t.hasRNG),
            "write_protected": .bool(t.isWriteProtected), "user_pin_locked": .bool(t.isUserPINLocked),
            "so_pin_locked": .bool(t.isSOPINLocked),
            "min_pin_length": .int(t.minPINLength), "max_pin_length": .int(t.maxPINLength),
            "sessions": count(t.sessionCount), "max_sessions": t.maxSessionCount.map(JSONValue.int) ?? .string("unlimited"),
            "rw_sessions": count(t.rwSessionCount),
            "max_rw_sessions": t.maxRwSessionCount.map(JSONValue.int) ?? .string("unlimited"),
            "hardware_version": .string(t.hardwareVersion.description),
            "firmware_version": .string(t.firmwareVersion.description),
            "audit_key_fingerprint": auditKeyFingerprint.map(JSONValue.string) ?? .string("none"),
        ]
        if json {
            print(JSONValue.object(object).rendered)
            return
        }
        for key in ["label", "slot", "manufacturer", "model", "serial", "initialized", "login_required",
                    "user_pin_initialized", "user_pin_locked", "so_pin_locked", "rng", "write_protected",
                    "min_pin_length", "max_pin_length", "sessions", "max_sessions", "rw_sessions", "max_rw_sessions",
                    "hardware_version", "firmware_version", "audit_key_fingerprint"] {
            print("\(key.replacingOccurrences(of: "_", with: " ")): \(object[key]!.text)")
        }
    }
}
