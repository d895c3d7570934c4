import Foundation
import KMSAuditFormat

/// The grant token CreateGrant returns. AWS needs tokens because its grants
/// take a while to reach every host; here a grant is in force once
/// CreateGrant answers, so a token only names its grant (for RetireGrant)
/// and proves nothing: holding one gives no permission the grant does not.
/// The form is base64url of `"p11kgt1"`, the 32-byte grant id, and 16
/// random bytes, so each CreateGrant returns a new token, as AWS's do.
enum GrantToken {
    private static let magic = Array("p11kgt1".utf8)

    static func make(grantID: String) -> String {
        var bytes = magic + (AuditLine.bytes(hex: grantID) ?? [])
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<16 { bytes.append(rng.next()) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The grant id a token names, or nil if it is not a token of ours.
    static func grantID(in token: String) -> String? {
        var text = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text), data.count == magic.count + 32 + 16,
              Array(data.prefix(magic.count)) == magic else { return nil }
        return AuditLine.hex(Array(data.dropFirst(magic.count).prefix(32)))
    }

    /// A new grant id: 32 random bytes as 64 lowercase hex characters.
    static func newGrantID() -> String {
        var rng = SystemRandomNumberGenerator()
        return AuditLine.hex((0..<32).map { _ in rng.next() })
    }

    static func isGrantID(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
