import PKCS11

extension TokenSetup {
    /// Ensures the metadata-seal key exists: an HMAC key (32-byte generic
    /// secret) that is a private, sensitive, never-extractable token object
    /// able only to sign and verify. Returns true when it was created now.
    @discardableResult
    public static func ensureSealKey(_ session: Session) throws -> Bool {
        let existing = try session.findObjects([.class(.secretKey), .token(true), .label(sealKeyLabel)])
        guard existing.isEmpty else { return false }
        _ = try session.generateKey(.genericSecret(bytes: 32), KeyOptions(usage: .signVerify, token: true,
                                                                          label: sealKeyLabel))
        return true
    }
}
