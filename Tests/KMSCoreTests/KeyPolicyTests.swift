import Foundation
import KMSModel
import Testing

@testable import KMSCore

@Suite struct KeyPolicyTests {
    static let alice = Principal(uid: 1000, gid: 1000, groups: [27, 2000], userName: "alice",
                                 groupNames: ["alice", "sudo", "p11kms-users"])
    static let bob = Principal(uid: 1001, gid: 1001, userName: "bob", groupNames: ["bob"])

    /// A document with one statement; `fields` are spliced in after the opening brace.
    static func document(_ fields: String) -> String {
        #"{"Version": "2012-10-17", "Statement": [{\#(fields)}]}"#
    }

    // MARK: Conditions

    struct ConditionCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let condition: String
        var request: [String: [String]] = [:]
        var caller = KeyPolicyTests.alice
        let allowed: Bool
    }

    static let tenant = "kms:EncryptionContext:tenant"
    static let keys = "kms:EncryptionContextKeys"

    static let conditionCases: [ConditionCase] = [
        // StringEquals
        .init(testDescription: "StringEquals matches", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              request: [tenant: ["acme"]], allowed: true),
        .init(testDescription: "StringEquals other value", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              request: [tenant: ["globex"]], allowed: false),
        .init(testDescription: "StringEquals key absent", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              allowed: false),
        .init(testDescription: "StringEquals is case-sensitive", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              request: [tenant: ["ACME"]], allowed: false),
        .init(testDescription: "StringEquals compares scalars, not canonical equivalence",
              condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "caf\u00e9"}}"#,
              request: [tenant: ["cafe\u{301}"]], allowed: false),
        .init(testDescription: "StringEquals values are ORed", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": ["acme", "globex"]}}"#,
              request: [tenant: ["globex"]], allowed: true),
        .init(testDescription: "StringEquals integer value means its text", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": 42}}"#,
              request: [tenant: ["42"]], allowed: true),
        .init(testDescription: "StringEquals boolean value means its text", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": [true]}}"#,
              request: [tenant: ["true"]], allowed: true),
        .init(testDescription: "context name is case-sensitive", condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              request: ["kms:EncryptionContext:Tenant": ["acme"]], allowed: false),
        .init(testDescription: "key prefix is case-insensitive", condition: #"{"StringEquals": {"KMS:encryptioncontext:tenant": "acme"}}"#,
              request: [tenant: ["acme"]], allowed: true),
        .init(testDescription: "StringEquals on a multi-valued key: any value", condition: #"{"StringEquals": {"kms:EncryptionContextKeys": "purpose"}}"#,
              request: [keys: ["tenant", "purpose"]], allowed: true),
        // StringNotEquals
        .init(testDescription: "StringNotEquals other value", condition: #"{"StringNotEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              request: [tenant: ["globex"]], allowed: true),
        .init(testDescription: "StringNotEquals same value", condition: #"{"StringNotEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              request: [tenant: ["acme"]], allowed: false),
        .init(testDescription: "StringNotEquals key absent", condition: #"{"StringNotEquals": {"kms:EncryptionContext:tenant": "acme"}}"#,
              allowed: true),
        .init(testDescription: "StringNotEquals matching any listed value", condition: #"{"StringNotEquals": {"kms:EncryptionContext:tenant": ["acme", "globex"]}}"#,
              request: [tenant: ["globex"]], allowed: false),
        .init(testDescription: "StringNotEquals on a multi-valued key holding it", condition: #"{"StringNotEquals": {"kms:EncryptionContextKeys": "secret"}}"#,
              request: [keys: ["tenant", "secret"]], allowed: false),
        .init(testDescription: "StringNotEquals on a multi-valued key without it", condition: #"{"StringNotEquals": {"kms:EncryptionContextKeys": "secret"}}"#,
              request: [keys: ["tenant"]], allowed: true),
        // StringLike
        .init(testDescription: "StringLike * matches", condition: #"{"StringLike": {"kms:EncryptionContext:tenant": "acme-*"}}"#,
              request: [tenant: ["acme-prod"]], allowed: true),
        .init(testDescription: "StringLike * matches nothing too", condition: #"{"StringLike": {"kms:EncryptionContext:tenant": "acme-*"}}"#,
              request: [tenant: ["acme-"]], allowed: true),
        .init(testDescription: "StringLike ? is one character", condition: #"{"StringLike": {"kms:EncryptionContext:tenant": "acme-?"}}"#,
              request: [tenant: ["acme-12"]], allowed: false),
        .init(testDescription: "StringLike several stars", condition: #"{"StringLike": {"kms:EncryptionContext:tenant": "a*b*c"}}"#,
              request: [tenant: ["axxbyyc"]], allowed: true),
        .init(testDescription: "StringLike is case-sensitive", condition: #"{"StringLike": {"kms:EncryptionContext:tenant": "ACME-*"}}"#,
              request: [tenant: ["acme-prod"]], allowed: false),
        .init(testDescription: "StringLike key absent", condition: #"{"StringLike": {"kms:EncryptionContext:tenant": "*"}}"#,
              allowed: false),
        // StringNotLike
        .init(testDescription: "StringNotLike no match", condition: #"{"StringNotLike": {"kms:EncryptionContext:tenant": "acme-*"}}"#,
              request: [tenant: ["globex"]], allowed: true),
        .init(testDescription: "StringNotLike match", condition: #"{"StringNotLike": {"kms:EncryptionContext:tenant": "acme-*"}}"#,
              request: [tenant: ["acme-1"]], allowed: false),
        .init(testDescription: "StringNotLike key absent", condition: #"{"StringNotLike": {"kms:EncryptionContext:tenant": "acme-*"}}"#,
              allowed: true),
        // ForAnyValue:StringEquals
        .init(testDescription: "ForAnyValue one in common", condition: #"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["purpose", "x"]}}"#,
              request: [keys: ["tenant", "purpose"]], allowed: true),
        .init(testDescription: "ForAnyValue none in common", condition: #"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["x"]}}"#,
              request: [keys: ["tenant", "purpose"]], allowed: false),
        .init(testDescription: "ForAnyValue key absent", condition: #"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["x"]}}"#,
              allowed: false),
        // ForAllValues:StringEquals
        .init(testDescription: "ForAllValues all listed", condition: #"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant", "purpose", "extra"]}}"#,
              request: [keys: ["tenant", "purpose"]], allowed: true),
        .init(testDescription: "ForAllValues one not listed", condition: #"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]}}"#,
              request: [keys: ["tenant", "purpose"]], allowed: false),
        .init(testDescription: "ForAllValues key absent", condition: #"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]}}"#,
              allowed: true),
        .init(testDescription: "ForAllValues no values", condition: #"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]}}"#,
              request: [keys: []], allowed: true),
        // Every other key
        .init(testDescription: "kms:EncryptionAlgorithm matches", condition: #"{"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#,
              request: ["kms:EncryptionAlgorithm": ["SYMMETRIC_DEFAULT"]], allowed: true),
        .init(testDescription: "kms:EncryptionAlgorithm differs", condition: #"{"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#,
              request: ["kms:EncryptionAlgorithm": ["RSAES_OAEP_SHA_256"]], allowed: false),
        .init(testDescription: "kms:SigningAlgorithm matches", condition: #"{"StringLike": {"kms:SigningAlgorithm": "ECDSA_*"}}"#,
              request: ["kms:SigningAlgorithm": ["ECDSA_SHA_256"]], allowed: true),
        .init(testDescription: "kms:SigningAlgorithm differs", condition: #"{"StringLike": {"kms:SigningAlgorithm": "ECDSA_*"}}"#,
              request: ["kms:SigningAlgorithm": ["RSASSA_PSS_SHA_256"]], allowed: false),
        .init(testDescription: "kms:MacAlgorithm matches", condition: #"{"StringEquals": {"kms:MacAlgorithm": ["HMAC_SHA_256", "HMAC_SHA_384"]}}"#,
              request: ["kms:MacAlgorithm": ["HMAC_SHA_384"]], allowed: true),
        .init(testDescription: "kms:MacAlgorithm differs", condition: #"{"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}"#,
              request: ["kms:MacAlgorithm": ["HMAC_SHA_512"]], allowed: false),
        .init(testDescription: "kms:RequestAlias matches", condition: #"{"StringLike": {"kms:RequestAlias": "alias/app/*"}}"#,
              request: ["kms:RequestAlias": ["alias/app/orders"]], allowed: true),
        .init(testDescription: "kms:RequestAlias absent (called by key ID)", condition: #"{"StringLike": {"kms:RequestAlias": "alias/app/*"}}"#,
              allowed: false),
        .init(testDescription: "p11kms:CallerExecutable matches", condition: #"{"StringEquals": {"p11kms:CallerExecutable": "/usr/bin/app"}}"#,
              request: ["p11kms:CallerExecutable": ["/usr/bin/app"]], allowed: true),
        .init(testDescription: "p11kms:CallerExecutable differs", condition: #"{"StringEquals": {"p11kms:CallerExecutable": "/usr/bin/app"}}"#,
              request: ["p11kms:CallerExecutable": ["/tmp/app"]], allowed: false),
        .init(testDescription: "p11kms:CallerExecutable from the principal", condition: #"{"StringEquals": {"p11kms:CallerExecutable": "/usr/bin/app"}}"#,
              caller: Principal(uid: 1000, gid: 1000, executable: "/usr/bin/app"), allowed: true),
        .init(testDescription: "request spelling of a key is case-insensitive too", condition: #"{"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#,
              request: ["KMS:ENCRYPTIONALGORITHM": ["SYMMETRIC_DEFAULT"]], allowed: true),
        // Combining
        .init(testDescription: "keys within an operator are ANDed (both hold)",
              condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme", "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#,
              request: [tenant: ["acme"], "kms:EncryptionAlgorithm": ["SYMMETRIC_DEFAULT"]], allowed: true),
        .init(testDescription: "keys within an operator are ANDed (one fails)",
              condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme", "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#,
              request: [tenant: ["acme"]], allowed: false),
        .init(testDescription: "operators are ANDed (both hold)",
              condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme"}, "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]}}"#,
              request: [tenant: ["acme"], keys: ["tenant"]], allowed: true),
        .init(testDescription: "operators are ANDed (one fails)",
              condition: #"{"StringEquals": {"kms:EncryptionContext:tenant": "acme"}, "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]}}"#,
              request: [tenant: ["acme"], keys: ["tenant", "extra"]], allowed: false),
        .init(testDescription: "empty Condition", condition: "{}", allowed: true),
    ]

    @Test(arguments: conditionCases)
    func condition(_ c: ConditionCase) throws {
        let policy = try KeyPolicy.parse(Self.document(#""Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": \#(c.condition)"#))
        let decision = policy.evaluate(AuthorizationRequest(action: "kms:Encrypt", principal: c.caller, conditionValues: c.request))
        #expect(decision.isAllowed == c.allowed)
    }

    // MARK: Actions

    struct ActionCase: Sendable, CustomTestStringConvertible {
        let field: String
        let patterns: String
        let action: KMSOperation
        let allowed: Bool
        var testDescription: String { "\(field) \(patterns) on \(action.rawValue)" }
    }

    static let actionCases: [ActionCase] = [
        .init(field: "Action", patterns: #""kms:*""#, action: .encrypt, allowed: true),
        .init(field: "Action", patterns: #""kms:*""#, action: .putKeyPolicy, allowed: true),
        .init(field: "Action", patterns: #""*""#, action: .sign, allowed: true),
        .init(field: "Action", patterns: #""kms:GenerateDataKey*""#, action: .generateDataKey, allowed: true),
        .init(field: "Action", patterns: #""kms:GenerateDataKey*""#, action: .generateDataKeyWithoutPlaintext, allowed: true),
        .init(field: "Action", patterns: #""kms:GenerateDataKey*""#, action: .generateDataKeyPair, allowed: true),
        .init(field: "Action", patterns: #""kms:GenerateDataKey*""#, action: .generateDataKeyPairWithoutPlaintext, allowed: true),
        .init(field: "Action", patterns: #""kms:GenerateDataKey*""#, action: .encrypt, allowed: false),
        .init(field: "Action", patterns: #""kms:GenerateDataKeyPair*""#, action: .generateDataKey, allowed: false),
        .init(field: "Action", patterns: #""KMS:encrypt""#, action: .encrypt, allowed: true),
        .init(field: "Action", patterns: #""kms:?ecrypt""#, action: .decrypt, allowed: true),
        .init(field: "Action", patterns: #""kms:?ecrypt""#, action: .reEncrypt, allowed: false),
        .init(field: "Action", patterns: #"["kms:Encrypt", "kms:Decrypt"]"#, action: .decrypt, allowed: true),
        .init(field: "Action", patterns: #"["kms:Encrypt", "kms:Decrypt"]"#, action: .sign, allowed: false),
        .init(field: "Action", patterns: #""kms:Encrypt""#, action: .reEncrypt, allowed: false),
        .init(field: "NotAction", patterns: #""kms:Decrypt""#, action: .encrypt, allowed: true),
        .init(field: "NotAction", patterns: #""kms:Decrypt""#, action: .decrypt, allowed: false),
        .init(field: "NotAction", patterns: #"["kms:Sign", "kms:Verify*"]"#, action: .verifyMac, allowed: false),
        .init(field: "NotAction", patterns: #"["kms:Sign", "kms:Verify*"]"#, action: .generateMac, allowed: true),
        .init(field: "NotAction", patterns: #""kms:*""#, action: .encrypt, allowed: false),
    ]

    @Test(arguments: actionCases)
    func action(_ c: ActionCase) throws {
        let policy = try KeyPolicy.parse(Self.document(#""Effect": "Allow", "Principal": "*", "\#(c.field)": \#(c.patterns)"#))
        let decision = policy.evaluate(AuthorizationRequest(action: "kms:" + c.action.rawValue, principal: Self.alice))
        #expect(decision.isAllowed == c.allowed)
    }

    // MARK: Principals

    struct PrincipalCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let principal: String
        let caller: Principal
        let allowed: Bool
    }

    static let robot = Principal(uid: 1500, gid: 1500, accessKeyName: "ci-robot")

    static let principalCases: [PrincipalCase] = [
        .init(testDescription: "Uid number", principal: #"{"Unix": {"Uid": 1000}}"#, caller: alice, allowed: true),
        .init(testDescription: "Uid numeric string", principal: #"{"Unix": {"Uid": ["1000"]}}"#, caller: alice, allowed: true),
        .init(testDescription: "Uid in a list", principal: #"{"Unix": {"Uid": [1, 1001, 7]}}"#, caller: bob, allowed: true),
        .init(testDescription: "Uid other", principal: #"{"Unix": {"Uid": [1001]}}"#, caller: alice, allowed: false),
        .init(testDescription: "User", principal: #"{"Unix": {"User": "alice"}}"#, caller: alice, allowed: true),
        .init(testDescription: "User other", principal: #"{"Unix": {"User": ["alice"]}}"#, caller: bob, allowed: false),
        .init(testDescription: "User, caller without a name", principal: #"{"Unix": {"User": ["alice"]}}"#,
              caller: Principal(uid: 1000, gid: 1000), allowed: false),
        .init(testDescription: "Gid primary", principal: #"{"Unix": {"Gid": 1000}}"#, caller: alice, allowed: true),
        .init(testDescription: "Gid supplementary", principal: #"{"Unix": {"Gid": ["2000"]}}"#, caller: alice, allowed: true),
        .init(testDescription: "Gid other", principal: #"{"Unix": {"Gid": [2000]}}"#, caller: bob, allowed: false),
        .init(testDescription: "Group primary name", principal: #"{"Unix": {"Group": "alice"}}"#, caller: alice, allowed: true),
        .init(testDescription: "Group supplementary name", principal: #"{"Unix": {"Group": ["p11kms-users"]}}"#, caller: alice, allowed: true),
        .init(testDescription: "Group other", principal: #"{"Unix": {"Group": ["p11kms-users"]}}"#, caller: bob, allowed: false),
        .init(testDescription: "any listed field", principal: #"{"Unix": {"Uid": [1], "User": ["nobody"], "Group": ["sudo"]}}"#,
              caller: alice, allowed: true),
        .init(testDescription: "* is anyone", principal: #""*""#, caller: bob, allowed: true),
        .init(testDescription: "* is anyone, access key callers too", principal: #""*""#, caller: robot, allowed: true),
        .init(testDescription: "AWS name", principal: #"{"AWS": "ci-robot"}"#, caller: robot, allowed: true),
        .init(testDescription: "AWS other name", principal: #"{"AWS": ["deploy"]}"#, caller: robot, allowed: false),
        .init(testDescription: "AWS never matches a Unix caller", principal: #"{"AWS": ["ci-robot", "*"]}"#, caller: alice, allowed: false),
        .init(testDescription: "AWS * is any access key", principal: #"{"AWS": "*"}"#, caller: robot, allowed: true),
        .init(testDescription: "Unix beside AWS, Unix caller", principal: #"{"Unix": {"Uid": 1000}, "AWS": ["ci-robot"]}"#,
              caller: alice, allowed: true),
        .init(testDescription: "Unix beside AWS, access key caller", principal: #"{"Unix": {"Uid": 1000}, "AWS": ["ci-robot"]}"#,
              caller: robot, allowed: true),
    ]

    @Test(arguments: principalCases)
    func principal(_ c: PrincipalCase) throws {
        let policy = try KeyPolicy.parse(Self.document(#""Effect": "Allow", "Principal": \#(c.principal), "Action": "kms:Decrypt""#))
        #expect(policy.evaluate(AuthorizationRequest(action: "kms:Decrypt", principal: c.caller)).isAllowed == c.allowed)
    }

    // MARK: Decisions

    struct DecisionCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let statements: String
        var caller = KeyPolicyTests.alice
        var action = "kms:Encrypt"
        var request: [String: [String]] = [:]
        let expected: PolicyDecision
    }

    static let allowAlice = #"{"Sid": "alice", "Effect": "Allow", "Principal": {"Unix": {"User": "alice"}}, "Action": "kms:*"}"#

    static let decisionCases: [DecisionCase] = [
        .init(testDescription: "no statement matches: default deny", statements: allowAlice, caller: bob, expected: .implicitDeny),
        .init(testDescription: "allow names the Sid", statements: allowAlice, expected: .allow(statement: "alice")),
        .init(testDescription: "allow without Sid names the index",
              statements: #"{"Effect": "Deny", "Principal": "*", "Action": "kms:Sign"}, {"Effect": "Allow", "Principal": "*", "Action": "kms:*"}"#,
              expected: .allow(statement: "Statement[1]")),
        .init(testDescription: "an empty Sid names the index",
              statements: #"{"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "kms:*"}"#, expected: .allow(statement: "Statement[0]")),
        .init(testDescription: "the first matching Allow is named",
              statements: #"{"Sid": "a", "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt"}, {"Sid": "b", "Effect": "Allow", "Principal": "*", "Action": "kms:*"}"#,
              expected: .allow(statement: "a")),
        .init(testDescription: "Deny after Allow wins",
              statements: allowAlice + #", {"Sid": "no-encrypt", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt"}"#,
              expected: .explicitDeny(statement: "no-encrypt")),
        .init(testDescription: "Deny before Allow wins",
              statements: #"{"Effect": "Deny", "Principal": {"Unix": {"Gid": 27}}, "Action": "kms:*"}, "# + allowAlice,
              expected: .explicitDeny(statement: "Statement[0]")),
        .init(testDescription: "Deny for someone else does not apply",
              statements: allowAlice + #", {"Sid": "not-bob", "Effect": "Deny", "Principal": {"Unix": {"User": "bob"}}, "Action": "kms:*"}"#,
              expected: .allow(statement: "alice")),
        .init(testDescription: "Deny whose condition fails does not apply",
              statements: allowAlice + #", {"Sid": "no-secrets", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "#
                  + #""Condition": {"StringEquals": {"kms:EncryptionContext:class": "secret"}}}"#,
              request: ["kms:EncryptionContext:class": ["public"]], expected: .allow(statement: "alice")),
        .init(testDescription: "Deny whose condition holds applies",
              statements: allowAlice + #", {"Sid": "no-secrets", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "#
                  + #""Condition": {"StringEquals": {"kms:EncryptionContext:class": "secret"}}}"#,
              request: ["kms:EncryptionContext:class": ["secret"]], expected: .explicitDeny(statement: "no-secrets")),
        .init(testDescription: "Deny with NotAction denies what is not listed",
              statements: allowAlice + #", {"Sid": "decrypt-only", "Effect": "Deny", "Principal": "*", "NotAction": "kms:Decrypt"}"#,
              expected: .explicitDeny(statement: "decrypt-only")),
        .init(testDescription: "Deny with NotAction leaves what is listed",
              statements: allowAlice + #", {"Sid": "decrypt-only", "Effect": "Deny", "Principal": "*", "NotAction": "kms:Decrypt"}"#,
              action: "kms:Decrypt", expected: .allow(statement: "alice")),
        .init(testDescription: "Allow whose condition fails: default deny",
              statements: #"{"Sid": "tenant", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}}"#,
              expected: .implicitDeny),
        .init(testDescription: "an action no statement lists: default deny",
              statements: #"{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}"#, expected: .implicitDeny),
    ]

    @Test(arguments: decisionCases)
    func decision(_ c: DecisionCase) throws {
        let policy = try KeyPolicy.parse(#"{"Version": "2012-10-17", "Statement": [\#(c.statements)]}"#)
        let decision = policy.evaluate(AuthorizationRequest(action: c.action, principal: c.caller, conditionValues: c.request))
        #expect(decision == c.expected)
        #expect(decision.isAllowed == (c.expected != .implicitDeny && !c.expected.isExplicitDeny))
    }

    // MARK: Malformed documents

    struct MalformedCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let document: String
        /// Each must appear in the message.
        let mentions: [String]
    }

    static let allowAll = #""Effect": "Allow", "Principal": "*", "Action": "kms:*""#

    static let malformedCases: [MalformedCase] = [
        .init(testDescription: "not JSON", document: "{not json", mentions: ["not valid JSON", "line 1, column 2"]),
        // Foundation keeps one of two duplicate members (here Allow); jq and
        // Python show the last (Deny). Such a policy must not parse at all.
        .init(testDescription: "duplicate Effect",
              document: #"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Effect": "Deny"}}"#,
              mentions: ["duplicate member name", #""Effect""#]),
        .init(testDescription: "duplicate member spelled with an escape",
              document: #"{"Statement": {\#(allowAll)}, "St\u0061tement": []}"#,
              mentions: ["duplicate member name", #""Statement""#]),
        .init(testDescription: "trailing comma",
              document: #"{"Statement": {\#(allowAll),}}"#, mentions: ["trailing comma", "line 1"]),
        .init(testDescription: "not an object", document: "[]", mentions: ["not a JSON object"]),
        .init(testDescription: "no Statement", document: #"{"Version": "2012-10-17"}"#, mentions: ["no Statement"]),
        .init(testDescription: "unknown top-level field",
              document: #"{"Statement": {\#(allowAll)}, "Statment": []}"#, mentions: ["unknown field", #""Statment""#]),
        .init(testDescription: "unsupported Version",
              document: #"{"Version": "2012-10-18", "Statement": {\#(allowAll)}}"#, mentions: ["Version", #""2012-10-18""#]),
        .init(testDescription: "Version not a string",
              document: #"{"Version": 2012, "Statement": {\#(allowAll)}}"#, mentions: ["Version must be a string"]),
        .init(testDescription: "Id not a string",
              document: #"{"Id": ["x"], "Statement": {\#(allowAll)}}"#, mentions: ["Id must be a string"]),
        .init(testDescription: "empty Statement list", document: #"{"Statement": []}"#, mentions: ["Statement", "empty list"]),
        .init(testDescription: "Statement a string", document: #"{"Statement": "allow"}"#, mentions: ["Statement must be an object"]),
        .init(testDescription: "statement not an object",
              document: #"{"Statement": [{\#(allowAll)}, 7]}"#, mentions: ["Statement[1]", "not an object"]),
        .init(testDescription: "unknown statement field",
              document: document(allowAll + #", "NotPrincipal": "*""#), mentions: ["Statement[0]", "unknown field", #""NotPrincipal""#]),
        .init(testDescription: "error names the Sid",
              document: #"{"Statement": [{"Sid": "readers", \#(allowAll), "Conditions": {}}]}"#,
              mentions: ["Statement[0]", #"Sid "readers""#, #""Conditions""#]),
        .init(testDescription: "Sid not a string", document: document(#""Sid": 1, "# + allowAll), mentions: ["Statement[0]", "Sid must be a string"]),
        .init(testDescription: "duplicate Sid",
              document: #"{"Statement": [{"Sid": "a", \#(allowAll)}, {"Sid": "a", \#(allowAll)}]}"#,
              mentions: ["Statement[1]", #""a""#, "already used by Statement[0]"]),
        .init(testDescription: "Effect missing", document: document(#""Principal": "*", "Action": "kms:*""#),
              mentions: ["Statement[0]", "Effect is missing"]),
        .init(testDescription: "Effect lower case", document: document(#""Effect": "allow", "Principal": "*", "Action": "kms:*""#),
              mentions: ["Effect must be", #""allow""#]),
        .init(testDescription: "Principal missing", document: document(#""Effect": "Allow", "Action": "kms:*""#),
              mentions: ["Statement[0]", "Principal is missing"]),
        .init(testDescription: "Principal a name", document: document(#""Effect": "Allow", "Principal": "root", "Action": "kms:*""#),
              mentions: ["Principal must be", #""root""#]),
        .init(testDescription: "unknown principal kind",
              document: document(#""Effect": "Allow", "Principal": {"Service": "x"}, "Action": "kms:*""#),
              mentions: ["Principal", "unknown kind", #""Service""#]),
        .init(testDescription: "empty Principal", document: document(#""Effect": "Allow", "Principal": {}, "Action": "kms:*""#),
              mentions: ["Principal names no one"]),
        .init(testDescription: "Unix not an object",
              document: document(#""Effect": "Allow", "Principal": {"Unix": "alice"}, "Action": "kms:*""#),
              mentions: ["Principal.Unix must be an object"]),
        .init(testDescription: "empty Unix", document: document(#""Effect": "Allow", "Principal": {"Unix": {}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix names no one"]),
        .init(testDescription: "unknown Unix field",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"Name": "alice"}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix", "unknown field", #""Name""#]),
        .init(testDescription: "Uid not numeric",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"Uid": ["alice"]}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix.Uid", #""alice""#, "not a number"]),
        .init(testDescription: "Uid negative",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"Uid": -1}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix.Uid", "-1"]),
        .init(testDescription: "Gid too large",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"Gid": 4294967296}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix.Gid", "4294967296"]),
        .init(testDescription: "Uid fractional",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"Uid": 1000.5}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix.Uid", "1000.5"]),
        .init(testDescription: "Gid empty list",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"Gid": []}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix.Gid", "empty list"]),
        .init(testDescription: "User wildcard",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"User": "*"}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix.User", "wildcard"]),
        .init(testDescription: "Group a number",
              document: document(#""Effect": "Allow", "Principal": {"Unix": {"Group": [5]}}, "Action": "kms:*""#),
              mentions: ["Principal.Unix.Group", "5", "not a name"]),
        .init(testDescription: "AWS name with a wildcard",
              document: document(#""Effect": "Allow", "Principal": {"AWS": "ci-*"}, "Action": "kms:*""#),
              mentions: ["Principal.AWS", #""ci-*""#, "wildcard"]),
        .init(testDescription: "Action and NotAction",
              document: document(#""Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotAction": "kms:Sign""#),
              mentions: ["Statement[0]", "both Action and NotAction"]),
        .init(testDescription: "no Action", document: document(#""Effect": "Allow", "Principal": "*""#),
              mentions: ["Statement[0]", "neither Action nor NotAction"]),
        .init(testDescription: "misspelt action",
              document: document(#""Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt", "kms:Encrpyt"]"#),
              mentions: ["Action", #""kms:Encrpyt""#, "matches no KMS operation"]),
        .init(testDescription: "wildcard matching nothing in NotAction",
              document: document(#""Effect": "Deny", "Principal": "*", "NotAction": "kms:Foo*""#),
              mentions: ["NotAction", #""kms:Foo*""#, "matches no KMS operation"]),
        .init(testDescription: "another service's action",
              document: document(#""Effect": "Allow", "Principal": "*", "Action": "s3:GetObject""#),
              mentions: ["Action", #""s3:GetObject""#, #""kms:""#]),
        .init(testDescription: "empty Action list",
              document: document(#""Effect": "Allow", "Principal": "*", "Action": []"#), mentions: ["Action", "empty list"]),
        .init(testDescription: "Action an object",
              document: document(#""Effect": "Allow", "Principal": "*", "Action": {"kms": "*"}"#), mentions: ["Action", "an object"]),
        .init(testDescription: "Resource an ARN",
              document: document(allowAll + #", "Resource": "arn:aws:kms:eu-west-1:111122223333:key/x""#),
              mentions: ["Resource", "arn:aws:kms"]),
        .init(testDescription: "Condition not an object",
              document: document(allowAll + #", "Condition": ["StringEquals"]"#), mentions: ["Condition must be an object"]),
        .init(testDescription: "unsupported operator",
              document: document(allowAll + #", "Condition": {"NumericEquals": {"kms:EncryptionAlgorithm": "1"}}"#),
              mentions: ["Condition operator", #""NumericEquals""#, "not supported"]),
        .init(testDescription: "IfExists operator",
              document: document(allowAll + #", "Condition": {"StringEqualsIfExists": {"kms:EncryptionAlgorithm": "x"}}"#),
              mentions: [#""StringEqualsIfExists""#, "not supported"]),
        .init(testDescription: "operator block not an object",
              document: document(allowAll + #", "Condition": {"StringEquals": "kms:EncryptionAlgorithm"}"#),
              mentions: [#"Condition "StringEquals" must be an object"#]),
        .init(testDescription: "operator block empty",
              document: document(allowAll + #", "Condition": {"StringLike": {}}"#), mentions: [#""StringLike""#, "no condition keys"]),
        .init(testDescription: "unknown condition key",
              document: document(allowAll + #", "Condition": {"StringEquals": {"kms:CallerAccount": "1"}}"#),
              mentions: ["unknown condition key", #""kms:CallerAccount""#]),
        .init(testDescription: "encryption context key without a name",
              document: document(allowAll + #", "Condition": {"StringEquals": {"kms:EncryptionContext:": "x"}}"#),
              mentions: [#""kms:EncryptionContext:""#, "names no encryption context key"]),
        .init(testDescription: "condition value an object",
              document: document(allowAll + #", "Condition": {"StringEquals": {"kms:EncryptionAlgorithm": {"a": "b"}}}"#),
              mentions: ["value for", #""kms:EncryptionAlgorithm""#, "an object"]),
        .init(testDescription: "condition value null",
              document: document(allowAll + #", "Condition": {"StringLike": {"kms:RequestAlias": [null]}}"#),
              mentions: ["value for", #""kms:RequestAlias""#, "null"]),
    ]

    @Test(arguments: malformedCases)
    func malformed(_ c: MalformedCase) {
        do {
            let policy = try KeyPolicy.parse(c.document)
            Issue.record("parsed: \(policy)")
        } catch let error as KMSError {
            #expect(error.name == .malformedPolicyDocument)
            for mention in c.mentions {
                #expect(error.message.contains(mention), "\(error.message)")
            }
        } catch {
            Issue.record("expected a KMSError, got \(error)")
        }
    }

    // MARK: Well-formed documents

    static let wellFormed: [String] = [
        // DESIGN.md §5
        """
        {"Version": "2012-10-17",
         "Statement": [
          {"Sid": "ops", "Effect": "Allow", "Principal": {"Unix": {"Group": ["p11kms-admin"]}}, "Action": "kms:*"},
          {"Sid": "checkout-encrypts", "Effect": "Allow",
           "Principal": {"Unix": {"User": ["checkout"], "Uid": [1001]}},
           "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
           "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}}]}
        """,
        #"{"Statement": {"Effect": "Deny", "Principal": "*", "NotAction": "kms:Decrypt", "Resource": ["*"]}}"#,
        #"{"Version": "2008-10-17", "Id": "x", "Statement": [{"Sid": "", \#(allowAll), "Resource": "*", "Condition": {}}]}"#,
        #"{"Statement": [{"Effect": "Allow", "Principal": {"Unix": {"Uid": "0", "Gid": [0, "10"]}, "AWS": ["ci-robot", "*"]}, "Action": "*"}]}"#,
    ]

    @Test(arguments: wellFormed)
    func wellFormedDocumentParses(_ document: String) throws {
        let policy = try KeyPolicy.parse(document)
        #expect(try KeyPolicy.parse(document) == policy)
    }

    @Test func designExampleModel() throws {
        let policy = try KeyPolicy.parse(Self.wellFormed[0])
        #expect(policy.version == "2012-10-17")
        #expect(policy.statements.map(\.name) == ["ops", "checkout-encrypts"])
        let checkout = policy.statements[1]
        #expect(checkout.effect == .allow)
        #expect(checkout.principals.users == ["checkout"])
        #expect(checkout.principals.uids == [1001])
        #expect(checkout.actions == .matching([.init("kms:Encrypt"), .init("kms:GenerateDataKey*")]))
        #expect(checkout.conditions == [.init(operator: .stringEquals, key: .encryptionContext("tenant"), values: ["acme"])])
    }

    // MARK: Default policy

    @Test(arguments: [
        Principal(uid: 1000, gid: 1000, userName: "alice"),
        Principal(uid: 0, gid: 0),
        Principal(uid: 1002, gid: 1002, userName: #"o"brien\x"#),
    ])
    func defaultPolicyAllowsItsCreatorOnly(creator: Principal) throws {
        let policy = try KeyPolicy.parse(KMSEngine.defaultPolicy(creator: creator))
        let stranger = Principal(uid: 4242, gid: creator.gid, groups: [creator.gid], userName: "mallory", groupNames: ["staff"])
        for operation in KMSOperation.allCases {
            let action = "kms:" + operation.rawValue
            #expect(policy.evaluate(AuthorizationRequest(action: action, principal: creator)).isAllowed, "\(action)")
            #expect(policy.evaluate(AuthorizationRequest(action: action, principal: stranger)) == .implicitDeny, "\(action)")
        }
    }

    // MARK: Pieces

    @Test(arguments: [
        ("", "", true), ("*", "", true), ("?", "", false), ("a*", "a", true), ("*a", "*ba", true),
        ("a?c", "abc", true), ("a?c", "ac", false), ("*b*", "abc", true), ("a*c", "abcd", false),
        ("**", "x", true), ("a*b*c*d", "aXbYcZd", true), ("a*b", "aXbYc", false),
    ])
    func wildcard(pattern: String, text: String, matches: Bool) {
        #expect(Wildcard.matches(Array(pattern.unicodeScalars), Array(text.unicodeScalars)) == matches)
    }

    @Test func principalWithoutAccessKeyDecodesFromOlderJSON() throws {
        #expect(Principal(uid: 1, gid: 1).accessKeyName == nil)
        let old = #"{"uid": 1, "gid": 2, "groups": [], "pid": 3, "groupNames": []}"#
        let decoded = try JSONDecoder().decode(Principal.self, from: Data(old.utf8))
        #expect(decoded == Principal(uid: 1, gid: 2, pid: 3))
    }
}

extension PolicyDecision {
    fileprivate var isExplicitDeny: Bool {
        if case .explicitDeny = self { true } else { false }
    }
}
