import Crypto
import Foundation

/// The audit key's public half as the verifier reads it.
public enum AuditPublicKey {
    /// The audit public key as PEM (`-----BEGIN PUBLIC KEY-----`), for
    /// `p11kms audit verify --public-key`.
    public static func pem(_ spki: [UInt8]) -> String {
        let base64 = Array(Data(spki).base64EncodedString().utf8)
        var lines = ["-----BEGIN PUBLIC KEY-----"]
        var i = 0
        while i < base64.count {
            lines.append(String(decoding: base64[i..<min(i + 64, base64.count)], as: UTF8.self))
            i += 64
        }
        lines.append("-----END PUBLIC KEY-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `SHA256:` and the hex SHA-256 of the key's SubjectPublicKeyInfo DER:
    /// the `key` field of every checkpoint the key signs. Operators pin it
    /// with `audit verify --key-fingerprint`, taken from `p11kms token info`
    /// or `p11kms status` rather than from the state directory being checked.
    public static func fingerprint(_ spki: [UInt8]) -> String {
        "SHA256:" + AuditLine.hex(Array(SHA256.hash(data: spki)))
    }

    /// The hex key id inside a fingerprint, lower-cased, or nil if `text` is
    /// not `SHA256:` and 64 hex digits.
    public static func keyID(fromFingerprint text: String) -> String? {
        guard text.hasPrefix("SHA256:") else { return nil }
        let hex = text.dropFirst("SHA256:".count).lowercased()
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return String(hex)
    }
}
