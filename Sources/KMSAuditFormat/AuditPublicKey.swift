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
}
