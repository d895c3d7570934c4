import Foundation
import KMSModel

/// A key policy: an AWS-shaped JSON document whose principals are Unix users
/// and groups (and access key names), parsed and checked once so evaluating it
/// never meets a surprise. Evaluation is in `PolicyEvaluation.swift`.
///
/// ```json
/// {"Version": "2012-10-17",
///  "Statement": [{"Sid": "ops", "Effect": "Allow",
///                 "Principal": {"Unix": {"Group": ["p11kms-admin"]}}, "Action": "kms:*"}]}
/// ```
public struct KeyPolicy: Sendable, Hashable {
    public let version: String?
    public let id: String?
    public let statements: [Statement]

    public static let supportedVersions: Set<String> = ["2012-10-17", "2008-10-17"]

    public struct Statement: Sendable, Hashable {
        /// Position in the document's Statement list, from 0.
        public let index: Int
        public let sid: String?
        public let effect: Effect
        public let principals: Principals
        public let actions: Actions
        /// All must hold (AND); each holds if the request matches any of its values.
        public let conditions: [Condition]

        /// How decisions name the statement: its Sid, or `Statement[<index>]`.
        public var name: String { sid ?? "Statement[\(index)]" }
    }

    public enum Effect: String, Sendable, Hashable {
        case allow = "Allow", deny = "Deny"
    }

    /// Who a statement is about. A caller matches if any listed entry matches.
    public struct Principals: Sendable, Hashable {
        /// `"Principal": "*"`.
        public var anyone = false
        public var uids: [UInt32] = []
        public var users: [String] = []
        /// Matches the primary gid or any supplementary group.
        public var gids: [UInt32] = []
        /// Matches the name of the primary or any supplementary group.
        public var groups: [String] = []
        /// Access key principal names (`"AWS"`); `"*"` is any caller with an access key.
        public var accessKeyNames: [String] = []

        public static let anyone = Principals(anyone: true)
    }

    public enum Actions: Sendable, Hashable {
        /// `Action`: the request's action matches one of the patterns.
        case matching([ActionPattern])
        /// `NotAction`: the request's action matches none of the patterns.
        case notMatching([ActionPattern])
    }

    /// `kms:Encrypt`, `kms:GenerateDataKey*`, `*`: matched case-insensitively,
    /// `*` and `?` wildcards.
    public struct ActionPattern: Sendable, Hashable {
        public let pattern: String
        let folded: [Unicode.Scalar]

        init(_ pattern: String) {
            self.pattern = pattern
            self.folded = Array(pattern.lowercased().unicodeScalars)
        }

        public func matches(_ action: String) -> Bool {
            Wildcard.matches(folded, Array(action.lowercased().unicodeScalars))
        }
    }

    public struct Condition: Sendable, Hashable {
        public let `operator`: ConditionOperator
        public let key: ConditionKey
        /// Ored: the condition holds if the request matches any of them.
        public let values: [String]
    }

    public enum ConditionOperator: String, Sendable, Hashable, CaseIterable {
        case stringEquals = "StringEquals"
        case stringNotEquals = "StringNotEquals"
        case stringLike = "StringLike"
        case stringNotLike = "StringNotLike"
        case forAnyValueStringEquals = "ForAnyValue:StringEquals"
        case forAllValuesStringEquals = "ForAllValues:StringEquals"
    }

    /// A condition key. The prefix is matched case-insensitively; the name of
    /// an encryption context key is case-sensitive, as the context itself is.
    public enum ConditionKey: Sendable, Hashable {
        case encryptionContext(String)
        case encryptionContextKeys
        case encryptionAlgorithm
        case signingAlgorithm
        case macAlgorithm
        case requestAlias
        case callerExecutable

        static let encryptionContextPrefix = "kms:EncryptionContext:"
        static let fixed: [ConditionKey] = [
            .encryptionContextKeys, .encryptionAlgorithm, .signingAlgorithm, .macAlgorithm, .requestAlias,
            .callerExecutable,
        ]
        static let supportedList = (["kms:EncryptionContext:<name>"] + fixed.map(\.name)).joined(separator: ", ")

        /// The spelling requests use in `AuthorizationRequest.conditionValues`.
        public var name: String {
            switch self {
            case .encryptionContext(let key): Self.encryptionContextPrefix + key
            case .encryptionContextKeys: "kms:EncryptionContextKeys"
            case .encryptionAlgorithm: "kms:EncryptionAlgorithm"
            case .signingAlgorithm: "kms:SigningAlgorithm"
            case .macAlgorithm: "kms:MacAlgorithm"
            case .requestAlias: "kms:RequestAlias"
            case .callerExecutable: "p11kms:CallerExecutable"
            }
        }

        /// Nil for a key this service does not know, and for
        /// `kms:EncryptionContext:` without a name.
        public init?(_ spelling: String) {
            let prefix = Self.encryptionContextPrefix
            if spelling.count > prefix.count, spelling.prefix(prefix.count).lowercased() == prefix.lowercased() {
                self = .encryptionContext(String(spelling.dropFirst(prefix.count)))
                return
            }
            guard let key = Self.fixed.first(where: { $0.name.lowercased() == spelling.lowercased() }) else {
                return nil
            }
            self = key
        }
    }
}

// MARK: - Parsing

extension KeyPolicy {
    /// Parses and checks a policy document; throws `MalformedPolicyDocumentException`
    /// naming the statement (index and Sid) and the field that is wrong.
    public static func parse(_ document: String) throws -> KeyPolicy {
        let json: PolicyJSON
        do {
            // Strict first, so a duplicate "Effect" cannot mean Allow here and
            // Deny to the person reading the policy with jq.
            try StrictJSON.validate(Data(document.utf8), topLevel: .any)
            json = try JSONDecoder().decode(PolicyJSON.self, from: Data(document.utf8))
        } catch let error as StrictJSON.SyntaxError {
            throw malformed("The policy is not valid JSON: \(error).")
        } catch {
            throw malformed("The policy is not valid JSON\(syntaxErrorDetail(document)).")
        }
        guard case .object(let top) = json else { throw malformed("The policy is not a JSON object.") }
        try rejectUnknownFields(top, allowed: ["Version", "Id", "Statement"],
                                in: "The policy", expected: "Version, Id and Statement")

        var version: String?
        if let value = top["Version"] {
            guard case .string(let text) = value else {
                throw malformed("Version must be a string such as \"2012-10-17\".")
            }
            guard supportedVersions.contains(text) else {
                throw malformed("Version \(quoted(text)) is not supported; use \"2012-10-17\".")
            }
            version = text
        }
        var id: String?
        if let value = top["Id"] {
            guard case .string(let text) = value else { throw malformed("Id must be a string.") }
            id = text
        }

        let elements: [PolicyJSON]
        switch top["Statement"] {
        case nil: throw malformed("The policy has no Statement.")
        case .object?: elements = [top["Statement"]!]
        case .array(let list)? where !list.isEmpty: elements = list
        case .array?: throw malformed("Statement is an empty list; give at least one statement.")
        default: throw malformed("Statement must be an object or a non-empty list of objects.")
        }

        var statements: [Statement] = []
        var sidIndex: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            var parser = StatementParser(index: index, json: element)
            let statement = try parser.parse()
            if let sid = statement.sid {
                if let earlier = sidIndex[sid] {
                    throw malformed("Statement[\(index)] (Sid \(quoted(sid))): the Sid is already used by Statement[\(earlier)]; "
                        + "Sids must be unique.")
                }
                sidIndex[sid] = index
            }
            statements.append(statement)
        }
        return KeyPolicy(version: version, id: id, statements: statements)
    }
}

/// Parses one statement; every error names it.
private struct StatementParser {
    let index: Int
    let json: PolicyJSON
    private(set) var label: String

    init(index: Int, json: PolicyJSON) {
        self.index = index
        self.json = json
        self.label = "Statement[\(index)]"
    }

    static let fields = ["Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "Condition"]

    mutating func parse() throws -> KeyPolicy.Statement {
        guard case .object(let fields) = json else { throw malformed("\(label) is not an object.") }

        var sid: String?
        switch fields["Sid"] {
        case nil: break
        case .string(let text)?:
            // An empty Sid is as good as none: the statement is named by its index.
            if !text.isEmpty {
                sid = text
                label += " (Sid \(quoted(text)))"
            }
        default: throw malformed("\(label): Sid must be a string.")
        }
        try rejectUnknownFields(fields, allowed: Set(Self.fields), in: label,
                                expected: "Sid, Effect, Principal, Action or NotAction, Resource and Condition")

        let effect = try effect(fields["Effect"])
        let principals = try principals(fields["Principal"])
        let actions = try actions(fields["Action"], notAction: fields["NotAction"])
        try resource(fields["Resource"])
        let conditions = try conditions(fields["Condition"])
        return KeyPolicy.Statement(index: index, sid: sid, effect: effect, principals: principals, actions: actions,
                                   conditions: conditions)
    }

    func effect(_ json: PolicyJSON?) throws -> KeyPolicy.Effect {
        guard let json else { throw malformed("\(label): Effect is missing; use \"Allow\" or \"Deny\".") }
        guard case .string(let text) = json, let effect = KeyPolicy.Effect(rawValue: text) else {
            throw malformed("\(label): Effect must be \"Allow\" or \"Deny\", not \(json.summary).")
        }
        return effect
    }

    // MARK: Principal

    func principals(_ json: PolicyJSON?) throws -> KeyPolicy.Principals {
        let usage = "\"*\" or an object with \"Unix\" and/or \"AWS\""
        switch json {
        case nil:
            throw malformed("\(label): Principal is missing; use \(usage).")
        case .string("*")?:
            return .anyone
        case .object(let kinds)?:
            guard !kinds.isEmpty else { throw malformed("\(label): Principal names no one; use \(usage).") }
            if let unknown = kinds.keys.sorted().first(where: { $0 != "Unix" && $0 != "AWS" }) {
                throw malformed("\(label): Principal has an unknown kind \(quoted(unknown)); use \"Unix\" or \"AWS\".")
            }
            var principals = KeyPolicy.Principals()
            if let unix = kinds["Unix"] { try addUnix(unix, to: &principals) }
            if let aws = kinds["AWS"] {
                principals.accessKeyNames = try names(aws, field: "Principal.AWS", allowStar: true)
            }
            return principals
        case let other?:
            throw malformed("\(label): Principal must be \(usage), not \(other.summary).")
        }
    }

    private func addUnix(_ json: PolicyJSON, to principals: inout KeyPolicy.Principals) throws {
        let fields = "Uid, User, Gid or Group"
        guard case .object(let unix) = json else {
            throw malformed("\(label): Principal.Unix must be an object with \(fields).")
        }
        guard !unix.isEmpty else { throw malformed("\(label): Principal.Unix names no one; give \(fields).") }
        try rejectUnknownFields(unix, allowed: ["Uid", "User", "Gid", "Group"], in: "\(label): Principal.Unix",
                                expected: fields)
        if let uids = unix["Uid"] { principals.uids = try ids(uids, field: "Principal.Unix.Uid") }
        if let users = unix["User"] { principals.users = try names(users, field: "Principal.Unix.User", allowStar: false) }
        if let gids = unix["Gid"] { principals.gids = try ids(gids, field: "Principal.Unix.Gid") }
        if let groups = unix["Group"] { principals.groups = try names(groups, field: "Principal.Unix.Group", allowStar: false) }
    }

    private func ids(_ json: PolicyJSON, field: String) throws -> [UInt32] {
        try list(json, field: field, of: "number").map { element in
            let id: UInt32? = switch element {
            case .integer(let value): UInt32(exactly: value)
            case .string(let text) where text.allSatisfy(\.isASCII): UInt32(text)
            default: nil
            }
            guard let id else {
                throw malformed("\(label): \(field) \(element.summary) is not a number from 0 to \(UInt32.max).")
            }
            return id
        }
    }

    /// Names match exactly; a lone `"*"` is allowed only where it has a meaning.
    private func names(_ json: PolicyJSON, field: String, allowStar: Bool) throws -> [String] {
        try list(json, field: field, of: "name").map { element in
            guard case .string(let name) = element, !name.isEmpty else {
                throw malformed("\(label): \(field) \(element.summary) is not a name.")
            }
            if (name.contains("*") || name.contains("?")) && !(allowStar && name == "*") {
                throw malformed("\(label): \(field) \(quoted(name)) has a wildcard, but names match exactly; "
                    + "use \"Principal\": \"*\" for anyone.")
            }
            return name
        }
    }

    // MARK: Action

    func actions(_ action: PolicyJSON?, notAction: PolicyJSON?) throws -> KeyPolicy.Actions {
        switch (action, notAction) {
        case (nil, nil): throw malformed("\(label) has neither Action nor NotAction; give one.")
        case (_?, _?): throw malformed("\(label) has both Action and NotAction; give only one.")
        case (let json?, nil): return .matching(try patterns(json, field: "Action"))
        case (nil, let json?): return .notMatching(try patterns(json, field: "NotAction"))
        }
    }

    private func patterns(_ json: PolicyJSON, field: String) throws -> [KeyPolicy.ActionPattern] {
        try list(json, field: field, of: "action").map { element in
            guard case .string(let text) = element, !text.isEmpty else {
                throw malformed("\(label): \(field) \(element.summary) is not an action such as \"kms:Encrypt\".")
            }
            guard text == "*" || text.lowercased().hasPrefix("kms:") else {
                throw malformed("\(label): \(field) \(quoted(text)) does not start with \"kms:\".")
            }
            let pattern = KeyPolicy.ActionPattern(text)
            guard KMSOperation.policyActions.contains(where: { pattern.matches($0) }) else {
                throw malformed("\(label): \(field) \(quoted(text)) matches no KMS operation.")
            }
            return pattern
        }
    }

    // MARK: Resource

    /// A key policy is attached to its key, so the only resource it can name is "*".
    func resource(_ json: PolicyJSON?) throws {
        switch json {
        case nil, .string("*")?: return
        case .array(let list)? where list == [.string("*")]: return
        case let other?:
            throw malformed("\(label): Resource must be \"*\" (a key policy applies to its own key), not \(other.summary).")
        }
    }

    // MARK: Condition

    func conditions(_ json: PolicyJSON?) throws -> [KeyPolicy.Condition] {
        guard let json else { return [] }
        guard case .object(let operators) = json else {
            throw malformed("\(label): Condition must be an object of condition operators such as \"StringEquals\".")
        }
        var conditions: [KeyPolicy.Condition] = []
        for (name, block) in operators.sorted(by: { $0.key < $1.key }) {
            guard let op = KeyPolicy.ConditionOperator(rawValue: name) else {
                let supported = KeyPolicy.ConditionOperator.allCases.map(\.rawValue).joined(separator: ", ")
                throw malformed("\(label): Condition operator \(quoted(name)) is not supported; use one of \(supported).")
            }
            guard case .object(let keys) = block else {
                throw malformed("\(label): Condition \(quoted(name)) must be an object of condition keys and values.")
            }
            guard !keys.isEmpty else { throw malformed("\(label): Condition \(quoted(name)) has no condition keys.") }
            for (spelling, values) in keys.sorted(by: { $0.key < $1.key }) {
                guard let key = KeyPolicy.ConditionKey(spelling) else {
                    if spelling.lowercased() == KeyPolicy.ConditionKey.encryptionContextPrefix.lowercased() {
                        throw malformed("\(label): Condition \(quoted(name)) key \(quoted(spelling)) "
                            + "names no encryption context key; use kms:EncryptionContext:<name>.")
                    }
                    throw malformed("\(label): Condition \(quoted(name)) has an unknown condition key \(quoted(spelling)); "
                        + "use one of \(KeyPolicy.ConditionKey.supportedList).")
                }
                let field = "Condition \(quoted(name)) value for \(quoted(spelling))"
                let strings = try list(values, field: field, of: "string").map { element in
                    switch element {
                    case .string(let text): return text
                    // Written without quotes, a number or boolean means its text, as in AWS.
                    case .integer(let number): return String(number)
                    case .bool(let flag): return String(flag)
                    default: throw malformed("\(label): \(field) \(element.summary) is not a string.")
                    }
                }
                conditions.append(KeyPolicy.Condition(operator: op, key: key, values: strings))
            }
        }
        return conditions
    }

    // MARK: Helpers

    /// A scalar or a non-empty list of scalars.
    private func list(_ json: PolicyJSON, field: String, of kind: String) throws -> [PolicyJSON] {
        switch json {
        case .array(let elements):
            guard !elements.isEmpty else { throw malformed("\(label): \(field) is an empty list; give at least one \(kind).") }
            return elements
        case .object, .null:
            throw malformed("\(label): \(field) must be a \(kind) or a list of them, not \(json.summary).")
        default:
            return [json]
        }
    }
}

private func malformed(_ message: String) -> KMSError {
    KMSError(.malformedPolicyDocument, message)
}

/// JSONDecoder only says "not valid JSON"; JSONSerialization says where.
private func syntaxErrorDetail(_ document: String) -> String {
    do {
        _ = try JSONSerialization.jsonObject(with: Data(document.utf8), options: [.fragmentsAllowed])
        return ""
    } catch {
        guard let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String else { return "" }
        return ": " + (detail.hasSuffix(".") ? String(detail.dropLast()) : detail)
    }
}

private func quoted(_ text: String) -> String {
    "\"\(text)\""
}

private func rejectUnknownFields(_ object: [String: PolicyJSON], allowed: Set<String>, in place: String,
                                 expected: String) throws {
    if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
        throw malformed("\(place) has an unknown field \(quoted(unknown)); expected \(expected).")
    }
}

/// JSON as written, keeping integers apart from other numbers and booleans
/// apart from both, which `JSONSerialization`'s NSNumber does not.
private indirect enum PolicyJSON: Decodable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([PolicyJSON])
    case object([String: PolicyJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([PolicyJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: PolicyJSON].self))
        }
    }

    /// How an error message shows a value.
    var summary: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .string(let value): quoted(value)
        case .array: "a list"
        case .object: "an object"
        }
    }
}
