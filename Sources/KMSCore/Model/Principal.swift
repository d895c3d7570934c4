/// Who is calling. On the Unix socket: as the kernel identified them
/// (SO_PEERCRED and SO_PEERGROUPS), resolved to names where the host knows
/// them. On the TCP listener: the configured access key whose Signature
/// Version 4 signature the request carried; such a caller has no Unix
/// identity at all, and only `"AWS"` principals (or `"*"`) match it.
public struct Principal: Sendable, Hashable, Codable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public var pid: Int32
    public var userName: String?
    public var groupNames: [String]
    /// `/proc/<pid>/exe` when the connection was accepted.
    public var executable: String?
    /// The access key principal name for a caller that signed with an access
    /// key; key policies match it with `"Principal": {"AWS": [...]}`. Nil for
    /// callers known only by their Unix credentials.
    public var accessKeyName: String?
    /// The access key id the request was signed with (for the audit log).
    public var accessKeyID: String?
    /// `host:port` of a TCP caller.
    public var remoteAddress: String?

    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = [], pid: Int32 = 0, userName: String? = nil,
                groupNames: [String] = [], executable: String? = nil, accessKeyName: String? = nil) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.pid = pid
        self.userName = userName
        self.groupNames = groupNames
        self.executable = executable
        self.accessKeyName = accessKeyName
    }

    /// A caller authenticated by an access key's signature. Its uid and gid
    /// are the invalid id (uid_t)-1, which no Unix principal names; policy
    /// matching does not look at them for such a caller in any case.
    public static func accessKey(name: String, id: String, remoteAddress: String?) -> Principal {
        var p = Principal(uid: .max, gid: .max, accessKeyName: name)
        p.accessKeyID = id
        p.remoteAddress = remoteAddress
        return p
    }

    /// True for a caller identified by an access key rather than by the kernel.
    public var isAccessKeyCaller: Bool { accessKeyName != nil }

    /// How errors and logs name the caller: `uid 1000 (alice)` or `access key billing`.
    public var summary: String {
        if let accessKeyName { return "access key \(accessKeyName)" }
        return "uid \(uid)" + (userName.map { " (\($0))" } ?? "")
    }
}
