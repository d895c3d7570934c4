import KMSAuditFormat
import PKCS11

extension TokenSetup {
    /// Ensures the audit key pair exists: ECDSA P-256 token objects labelled
    /// `auditKeyLabel`, the private half private, sensitive, never
    /// extractable and able only to sign, the public half only to verify.
    /// Returns true when it was created now. Half a pair (or several) is an
    /// error for a person to look at, never silently replaced: checkpoints
    /// already written can only be verified with the old public key.
    @discardableResult
    public static func ensureAuditKey(_ session: Session) throws -> Bool {
        let label = auditKeyLabel
        let privateKeys = try session.findObjects([.class(.privateKey), .token(true), .label(label)])
        let publicKeys = try session.findObjects([.class(.publicKey), .token(true), .label(label)])
        switch (privateKeys.count, publicKeys.count) {
        case (0, 0):
            _ = try session.generateKeyPair(.ec(.p256), KeyOptions(usage: [.sign, .verify], token: true, label: label))
            return true
        case (1, 1):
            return false
        default:
            throw AuditLogError.auditKey("the token holds \(privateKeys.count) private and \(publicKeys.count) public "
                + "keys labelled \(label); expected one of each")
        }
    }
}
