/// What a caller asks to do, with the request facts conditions can test.
public struct AuthorizationRequest: Sendable {
    /// `"kms:" + KMSOperation.rawValue`, e.g. `kms:Encrypt`.
    public var action: String
    public var principal: Principal
    /// Condition key (spelled as `KeyPolicy.ConditionKey.name`, e.g.
    /// `kms:EncryptionContext:tenant`, `kms:EncryptionContextKeys`) → the values
    /// in the request. A key that is absent is not in the request.
    /// `p11kms:CallerExecutable` defaults to `principal.executable`.
    public var conditionValues: [String: [String]]

    public init(action: String, principal: Principal, conditionValues: [String: [String]] = [:]) {
        self.action = action
        self.principal = principal
        self.conditionValues = conditionValues
    }
}

public enum PolicyDecision: Sendable, Hashable {
    /// `statement` is the Sid of the deciding statement, or `Statement[<index>]`.
    case allow(statement: String)
    case explicitDeny(statement: String)
    /// No statement allowed the request.
    case implicitDeny

    public var isAllowed: Bool {
        if case .allow = self { true } else { false }
    }
}

extension KeyPolicy {
    /// AWS IAM's rule: any matching Deny statement denies; otherwise any
    /// matching Allow statement allows; otherwise the request is denied.
    public func evaluate(_ request: AuthorizationRequest) -> PolicyDecision {
        let facts = RequestFacts(request)
        var allowedBy: String?
        for statement in statements where statement.applies(to: request, facts) {
            switch statement.effect {
            case .deny: return .explicitDeny(statement: statement.name)
            case .allow: allowedBy = allowedBy ?? statement.name
            }
        }
        return allowedBy.map { .allow(statement: $0) } ?? .implicitDeny
    }
}

/// The request's condition values keyed by parsed condition key, so a request
/// spelling a key in another case still finds the policy's condition.
private struct RequestFacts {
    private var values: [KeyPolicy.ConditionKey: [String]] = [:]

    init(_ request: AuthorizationRequest) {
        for (spelling, list) in request.conditionValues {
            guard let key = KeyPolicy.ConditionKey(spelling) else { continue }
            values[key, default: []].append(contentsOf: list)
        }
        // The caller's executable is a fact about the principal every transport knows.
        if values[.callerExecutable] == nil, let executable = request.principal.executable {
            values[.callerExecutable] = [executable]
        }
    }

    subscript(key: KeyPolicy.ConditionKey) -> [String]? { values[key] }
}

extension KeyPolicy.Statement {
    fileprivate func applies(to request: AuthorizationRequest, _ facts: RequestFacts) -> Bool {
        principals.matches(request.principal)
            && actions.matches(request.action)
            && conditions.allSatisfy { $0.holds(for: facts[$0.key]) }
    }
}

extension KeyPolicy.Principals {
    public func matches(_ caller: Principal) -> Bool {
        if anyone { return true }
        // An access-key caller has no Unix identity: only "AWS" names match it.
        if let accessKey = caller.accessKeyName {
            return accessKeyNames.contains(accessKey) || accessKeyNames.contains("*")
        }
        if uids.contains(caller.uid) { return true }
        if let user = caller.userName, users.contains(user) { return true }
        if gids.contains(caller.gid) || caller.groups.contains(where: gids.contains) { return true }
        return caller.groupNames.contains(where: groups.contains)
    }
}

extension KeyPolicy.Actions {
    public func matches(_ action: String) -> Bool {
        switch self {
        case .matching(let patterns): patterns.contains { $0.matches(action) }
        case .notMatching(let patterns): !patterns.contains { $0.matches(action) }
        }
    }
}

extension KeyPolicy.Condition {
    /// `requestValues` nil: the key is not in the request. Single-valued
    /// operators hold if any request value matches; the Not forms are their
    /// negation, so an absent key satisfies them and a multi-valued key
    /// satisfies them only if no value matches.
    public func holds(for requestValues: [String]?) -> Bool {
        let requestValues = requestValues ?? []
        switch `operator` {
        case .stringEquals, .forAnyValueStringEquals: return requestValues.contains(where: equalsAny)
        case .stringNotEquals: return !requestValues.contains(where: equalsAny)
        case .stringLike: return requestValues.contains(where: isLikeAny)
        case .stringNotLike: return !requestValues.contains(where: isLikeAny)
        case .forAllValuesStringEquals: return requestValues.allSatisfy(equalsAny)
        }
    }

    /// Compares Unicode scalars, not Swift's canonically equivalent characters:
    /// encryption context is matched byte for byte elsewhere too.
    private func equalsAny(_ value: String) -> Bool {
        values.contains { $0.unicodeScalars.elementsEqual(value.unicodeScalars) }
    }

    private func isLikeAny(_ value: String) -> Bool {
        let text = Array(value.unicodeScalars)
        return values.contains { Wildcard.matches(Array($0.unicodeScalars), text) }
    }
}

/// `*` matches any run of characters (including none), `?` exactly one.
enum Wildcard {
    static func matches(_ pattern: [Unicode.Scalar], _ text: [Unicode.Scalar]) -> Bool {
        var p = 0, t = 0
        // Where the last `*` was, and how much text it has swallowed so far.
        var star: Int?, starText = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "*" {
                star = p
                starText = t
                p += 1
            } else if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let star {
                p = star + 1
                starText += 1
                t = starText
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
