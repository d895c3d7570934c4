import PKCS11

/// The token objects the daemon needs besides keys, made once per token by
/// `p11kms token setup` (and by dev mode and tests). A module of its own, over
/// PKCS11 alone, so the CLI makes them without linking the engine.
public enum TokenSetup {
    /// The domain key, which wraps key versions in `wrapped` storage.
    public static let domainKeyLabel = "p11kms-domain-key"
    /// The ECDSA P-256 pair that signs audit checkpoints.
    public static let auditKeyLabel = "p11kms-audit-key"
    /// The HMAC key that seals metadata rows.
    public static let sealKeyLabel = "p11kms-metadata-seal-key"

    /// Ensures the domain key exists: AES-256, a private, sensitive,
    /// never-extractable token object whose only uses are wrap and unwrap,
    /// with an unwrap template that forces every key it unwraps sensitive and
    /// non-extractable (`TokenSetup+DomainKey.swift`). Returns true when it
    /// was created now; an older key without the template is left as it is
    /// (`upgradeDomainKey`).
    @discardableResult
    public static func ensureDomainKey(_ session: Session) throws -> Bool {
        let existing = try session.findObjects([.class(.secretKey), .token(true), .label(domainKeyLabel)])
        guard existing.isEmpty else { return false }
        _ = try session.generateKey(.aes(bits: 256), KeyOptions(usage: [.wrap, .unwrap], token: true,
                                                                label: domainKeyLabel, extra: domainKeyTemplates))
        return true
    }
}
