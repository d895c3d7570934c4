import KMSAuditFormat
import KMSModel

extension AuditLogError {
    /// What a request fails with when its audit line cannot be written.
    public var kmsError: KMSError {
        .internalError("The request was not performed because the audit log cannot be written.")
    }
}
