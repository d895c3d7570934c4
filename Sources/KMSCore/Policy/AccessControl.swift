import KMSModel

/// Who may do what (DESIGN.md §5). Key operations are decided by the key's
/// policy; service operations (CreateKey, ListKeys, ListAliases,
/// GenerateRandom) by the daemon's configuration. Configured admins may
/// always read and replace a key policy, so no key is locked out for good.
public struct AccessControl: Sendable {
    /// May administer every key's policy and call every service operation.
    public var admins: PrincipalSet
    /// May create keys (and list keys and aliases).
    public var keyCreators: PrincipalSet
    /// May call GenerateRandom; nil means every caller that can reach the socket.
    public var randomCallers: PrincipalSet?

    public init(admins: PrincipalSet = PrincipalSet(), keyCreators: PrincipalSet = PrincipalSet(),
                randomCallers: PrincipalSet? = nil) {
        self.admins = admins
        self.keyCreators = keyCreators
        self.randomCallers = randomCallers
    }

    /// The decision for a service-level operation.
    func allowsService(_ operation: KMSOperation, _ caller: Principal) -> Bool {
        if admins.contains(caller) { return true }
        switch operation {
        case .generateRandom: return randomCallers?.contains(caller) ?? true
        case .createKey, .listKeys, .listAliases: return keyCreators.contains(caller)
        default: return false
        }
    }

    /// Operations an admin may perform on any key whatever its policy says
    /// (seeing and revoking grants too, so a stray grant can always be removed).
    static let adminKeyOperations: Set<KMSOperation> = [.getKeyPolicy, .putKeyPolicy, .listKeyPolicies, .describeKey,
                                                        .listGrants, .revokeGrant, .getKeyLastUsage]
}

/// A set of principals from configuration: `user:NAME`, `uid:N`,
/// `group:NAME`, `gid:N` (supplementary groups count), `access_key:NAME` (an
/// access key of the TCP listener, by its principal name), or `*`.
public struct PrincipalSet: Sendable, Hashable {
    public var users: Set<String> = []
    public var uids: Set<UInt32> = []
    public var groups: Set<String> = []
    public var gids: Set<UInt32> = []
    public var accessKeys: Set<String> = []
    public var everyone = false

    public init(users: Set<String> = [], uids: Set<UInt32> = [], groups: Set<String> = [], gids: Set<UInt32> = [],
                accessKeys: Set<String> = [], everyone: Bool = false) {
        self.users = users
        self.uids = uids
        self.groups = groups
        self.gids = gids
        self.accessKeys = accessKeys
        self.everyone = everyone
    }

    static let syntax = "user:NAME, uid:N, group:NAME, gid:N, access_key:NAME or *"

    /// Parses `["user:alice", "group:p11kms-admin", "uid:0", "access_key:billing", "*"]`.
    public init(parsing entries: [String]) throws {
        for entry in entries {
            if entry == "*" { everyone = true; continue }
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw KMSError.validation("'\(entry)' is not \(Self.syntax)")
            }
            switch parts[0] {
            case "user": users.insert(parts[1])
            case "group": groups.insert(parts[1])
            case "access_key": accessKeys.insert(parts[1])
            case "uid", "gid":
                guard let n = UInt32(parts[1]) else { throw KMSError.validation("'\(entry)' needs a number after \(parts[0]):") }
                if parts[0] == "uid" { uids.insert(n) } else { gids.insert(n) }
            default:
                throw KMSError.validation("'\(entry)' is not \(Self.syntax)")
            }
        }
    }

    public func contains(_ p: Principal) -> Bool {
        if everyone { return true }
        // An access-key caller has no Unix identity to match.
        if let accessKey = p.accessKeyName { return accessKeys.contains(accessKey) }
        if uids.contains(p.uid) { return true }
        if let name = p.userName, users.contains(name) { return true }
        if gids.contains(p.gid) || p.groups.contains(where: gids.contains) { return true }
        return p.groupNames.contains(where: groups.contains)
    }
}
