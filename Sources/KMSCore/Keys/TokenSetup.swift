import PKCS11

/// Labels of the daemon's own token objects, for tools that list them.
public enum KeyVaultLabels {
    public static let domain = KeyVault.domainKeyLabel
}

/// The token objects the daemon needs besides keys, made once per token by
/// `p11kms token setup` (and by dev mode and tests).
public enum TokenSetup {
    /// Ensures the domain key exists: AES-256, a private, sensitive,
    /// never-extractable token object whose only uses are wrap and unwrap.
    /// Returns true when it was created now.
    @discardableResult
    public static func ensureDomainKey(_ session: Session) throws -> Bool {
        let existing = try session.findObjects([.class(.secretKey), .token(true), .label(KeyVault.domainKeyLabel)])
        guard existing.isEmpty else { return false }
        _ = try session.generateKey(.aes(bits: 256), KeyOptions(usage: [.wrap, .unwrap], token: true,
                                                                label: KeyVault.domainKeyLabel))
        return true
    }
}
