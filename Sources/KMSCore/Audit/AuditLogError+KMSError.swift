import KMSAuditFormat
import KMSModel

extension AuditLogError {
    /// What a request fails with when its audit line cannot be written.
    public var kmsError: KMSError {
        if isTruncation {
            return .internalError("The request was not performed: the audit log was cut short (\(self)). An admin must "
                + "check it and run `p11kms audit acknowledge-truncation` before the daemon serves again.")
        }
        return .internalError("The request was not performed because the audit log cannot be written.")
    }
}
