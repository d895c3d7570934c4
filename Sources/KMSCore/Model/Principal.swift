/// Who is calling, as the kernel identified them (SO_PEERCRED and
/// SO_PEERGROUPS on the socket), resolved to names where the host knows them.
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
}
