import KMSAuditFormat

extension AuditPrincipal {
    /// The request's caller.
    public init(_ principal: Principal) {
        if principal.isAccessKeyCaller {
            self.init(uid: nil, gid: nil, pid: nil, accessKey: principal.accessKeyID,
                      accessKeyName: principal.accessKeyName, remoteAddress: principal.remoteAddress)
        } else {
            self.init(uid: principal.uid, user: principal.userName, gid: principal.gid, pid: principal.pid,
                      executable: principal.executable)
        }
    }
}
