import Foundation
import KMSModel

/// A grant as the store keeps it: permission for one principal to perform
/// some operations on one key, optionally only with a given encryption
/// context. Deleted with its key.
public struct GrantRecord: Sendable, Hashable, Codable {
    /// 64 lowercase hex characters, as AWS's grant ids look.
    public var grantID: String
    public var keyID: String
    /// The caller-chosen name that makes CreateGrant idempotent; not unique.
    public var name: String?
    /// As written in the request (`unix:uid:1001`, ...): see `GrantPrincipal`.
    public var granteePrincipal: String
    public var retiringPrincipal: String?
    /// In the order the request gave them, without repeats.
    public var operations: [GrantOperation]
    public var constraints: GrantConstraints?
    public var createdAt: Date
    /// HMAC made in the HSM over the row (see `MetadataSeal`); nil until sealed.
    public var seal: [UInt8]?

    public init(grantID: String, keyID: String, name: String?, granteePrincipal: String, retiringPrincipal: String?,
                operations: [GrantOperation], constraints: GrantConstraints?, createdAt: Date, seal: [UInt8]? = nil) {
        self.grantID = grantID
        self.keyID = keyID
        self.name = name
        self.granteePrincipal = granteePrincipal
        self.retiringPrincipal = retiringPrincipal
        self.operations = operations
        self.constraints = constraints
        self.createdAt = createdAt
        self.seal = seal
    }
}

/// Who a grant names, in the one string form `GranteePrincipal` and
/// `RetiringPrincipal` carry:
///
/// - `unix:uid:1001` — the caller whose uid is 1001;
/// - `unix:user:checkout` — the caller whose user name is `checkout`;
/// - `unix:group:apps` — a caller with `apps` as primary or supplementary group;
/// - `access_key:billing` — a TCP caller signing with the access key whose
///   principal name is `billing` (the name key policies match with `"AWS"`).
///
/// A Unix form never matches an access-key caller, nor the reverse.
public enum GrantPrincipal: Sendable, Hashable {
    case uid(UInt32)
    case user(String)
    case group(String)
    case accessKey(String)

    static let syntax = "unix:uid:N, unix:user:NAME, unix:group:NAME or access_key:NAME"

    /// Parses the member `member`; a ValidationException names it and the forms.
    public init(parsing text: String, member: String) throws {
        try Validate.length(text, member, max: 256)
        let refusal = KMSError.validation("\(member) '\(text.prefix(256))' is not a principal of this service; "
                                          + "write \(Self.syntax).")
        if text.hasPrefix("access_key:") {
            let name = String(text.dropFirst("access_key:".count))
            guard !name.isEmpty else { throw refusal }
            self = .accessKey(name)
            return
        }
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "unix", !parts[2].isEmpty else { throw refusal }
        switch parts[1] {
        case "uid":
            guard let uid = UInt32(parts[2]), uid != .max else { throw refusal }
            self = .uid(uid)
        case "user": self = .user(parts[2])
        case "group": self = .group(parts[2])
        default: throw refusal
        }
    }

    /// The canonical spelling (`unix:uid:7`, not `unix:uid:007`).
    public var text: String {
        switch self {
        case .uid(let n): "unix:uid:\(n)"
        case .user(let name): "unix:user:\(name)"
        case .group(let name): "unix:group:\(name)"
        case .accessKey(let name): "access_key:\(name)"
        }
    }

    public func matches(_ caller: Principal) -> Bool {
        if let accessKey = caller.accessKeyName {
            if case .accessKey(let name) = self { return name == accessKey }
            return false
        }
        switch self {
        case .uid(let n): return caller.uid == n
        case .user(let name): return caller.userName == name
        case .group(let name): return caller.groupNames.contains(name)
        case .accessKey: return false
        }
    }
}
