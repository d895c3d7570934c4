import Foundation

/// What `p11kms report` hands a compliance reviewer, and `p11kms key
/// attest` for one key: every claim read from the HSM at report time, from
/// the metadata store, or from the audit log after its chain and signatures
/// were checked. The daemon signs the JSON with the token's audit key
/// (`SignedDocument`), so the file is evidence on its own.
public struct ComplianceReport: Codable, Sendable, Hashable {
    public static let formatName = "p11kms-compliance-report/1"

    public var format = Self.formatName
    /// `report`, or `attestation` (one key, the small form for a ticket).
    public var kind: String
    public var generatedAt: Date
    /// Usage and history are counted from here (nil: the whole log).
    public var since: Date?
    /// Who asked for it (`uid:N`).
    public var generatedBy: String
    public var token: TokenEvidence
    public var audit: AuditEvidence
    /// Wrapped mode: the key every per-key KEK is unwrapped under.
    public var domainKey: ObjectEvidence?
    /// Wrapped mode: whether the token enforces the domain key's unwrap
    /// template (every key it unwraps sensitive and not extractable), as
    /// checked at start-up. Nil in token mode.
    public var unwrapTemplateEnforced: Bool?
    public var keys: [KeyEvidence]
    /// Secret and private keys on the token that no p11kms key owns (made
    /// with `p11kms token` tools or by others), with their attributes.
    public var otherTokenObjects: [ObjectEvidence]
    public var findings: [Finding]

    public init(kind: String, generatedAt: Date, since: Date?, generatedBy: String, token: TokenEvidence,
                audit: AuditEvidence, domainKey: ObjectEvidence?, unwrapTemplateEnforced: Bool?, keys: [KeyEvidence],
                otherTokenObjects: [ObjectEvidence], findings: [Finding]) {
        self.kind = kind
        self.generatedAt = generatedAt
        self.since = since
        self.generatedBy = generatedBy
        self.token = token
        self.audit = audit
        self.domainKey = domainKey
        self.unwrapTemplateEnforced = unwrapTemplateEnforced
        self.keys = keys
        self.otherTokenObjects = otherTokenObjects
        self.findings = findings
    }

    public struct TokenEvidence: Codable, Sendable, Hashable {
        public var label, manufacturer, model, serialNumber: String
        /// `wrapped` or `token` (DESIGN.md §3).
        public var keyStorage: String
        public init(label: String, manufacturer: String, model: String, serialNumber: String, keyStorage: String) {
            (self.label, self.manufacturer, self.model, self.serialNumber, self.keyStorage) =
                (label, manufacturer, model, serialNumber, keyStorage)
        }
    }

    public struct AuditEvidence: Codable, Sendable, Hashable {
        /// `SHA256:` fingerprint of the audit key that signs the log and this report.
        public var keyFingerprint: String
        public var intact: Bool
        /// The first problem the check found (a gap, an edit, a bad signature).
        public var problem: String?
        public var linesChecked: Int
        public var checkpointsVerified: Int
        /// Lines after the last signed checkpoint (chained, not yet signed).
        public var unsignedTailLines: Int
        public var firstLineTime: Date?
        public var lastLineTime: Date?
        public init(keyFingerprint: String, intact: Bool, problem: String?, linesChecked: Int, checkpointsVerified: Int,
                    unsignedTailLines: Int, firstLineTime: Date?, lastLineTime: Date?) {
            self.keyFingerprint = keyFingerprint
            self.intact = intact
            self.problem = problem
            self.linesChecked = linesChecked
            self.checkpointsVerified = checkpointsVerified
            self.unsignedTailLines = unsignedTailLines
            self.firstLineTime = firstLineTime
            self.lastLineTime = lastLineTime
        }
    }

    /// A token object's attributes as the HSM reports them now. Nil: the
    /// token did not say (the attribute does not apply, or it refused).
    public struct ObjectEvidence: Codable, Sendable, Hashable {
        public var role: String
        public var label: String
        public var objectClass: String
        /// `CKA_ID`, hex.
        public var id: String?
        public var local: Bool?
        public var alwaysSensitive: Bool?
        public var neverExtractable: Bool?
        public var extractable: Bool?
        public var sensitive: Bool?
        public init(role: String, label: String, objectClass: String, id: String?, local: Bool?, alwaysSensitive: Bool?,
                    neverExtractable: Bool?, extractable: Bool?, sensitive: Bool?) {
            self.role = role
            self.label = label
            self.objectClass = objectClass
            self.id = id
            self.local = local
            self.alwaysSensitive = alwaysSensitive
            self.neverExtractable = neverExtractable
            self.extractable = extractable
            self.sensitive = sensitive
        }

        /// Made in the HSM and never readable outside it.
        public var isHardwareBound: Bool {
            local == true && alwaysSensitive == true && neverExtractable == true && extractable == false && sensitive == true
        }
        /// The material could leave the HSM in the clear or wrapped.
        public var isExtractable: Bool { extractable != false || sensitive != true }
    }

    public struct KeyEvidence: Codable, Sendable, Hashable {
        public var keyId, arn: String
        public var description: String
        public var keySpec, keyUsage, origin, state: String
        public var creationDate: Date
        public var customKeyStoreId: String?
        public var rotationEnabled: Bool
        public var rotationPeriodInDays: Int?
        public var nextRotationDate: Date?
        public var deletionDate: Date?
        public var versions: [VersionEvidence]
        /// Wrapped mode: the key's own KEK on the token.
        public var kek: ObjectEvidence?
        public var access: [AccessRow]
        public var history: [HistoryEntry]
        public var usage: [UsageRow]
        public var lastUsed: Date?
        public init(keyId: String, arn: String, description: String, keySpec: String, keyUsage: String, origin: String,
                    state: String, creationDate: Date, customKeyStoreId: String?, rotationEnabled: Bool,
                    rotationPeriodInDays: Int?, nextRotationDate: Date?, deletionDate: Date?, versions: [VersionEvidence],
                    kek: ObjectEvidence?, access: [AccessRow], history: [HistoryEntry], usage: [UsageRow], lastUsed: Date?) {
            self.keyId = keyId
            self.arn = arn
            self.description = description
            self.keySpec = keySpec
            self.keyUsage = keyUsage
            self.origin = origin
            self.state = state
            self.creationDate = creationDate
            self.customKeyStoreId = customKeyStoreId
            self.rotationEnabled = rotationEnabled
            self.rotationPeriodInDays = rotationPeriodInDays
            self.nextRotationDate = nextRotationDate
            self.deletionDate = deletionDate
            self.versions = versions
            self.kek = kek
            self.access = access
            self.history = history
            self.usage = usage
            self.lastUsed = lastUsed
        }
    }

    public struct VersionEvidence: Codable, Sendable, Hashable {
        public var version: UInt32
        public var createdAt: Date
        public var rotationType: String?
        /// `token`: the material is these token objects; `wrapped`: it is
        /// stored wrapped under the key's KEK and unwrapped into the HSM only.
        public var storage: String
        public var keyMaterialId: String
        public var objects: [ObjectEvidence]
        /// The material's attributes when the HSM generated it, before any
        /// wrap, as sealed in the metadata store then. Nil: not recorded
        /// (made before this was kept, or imported).
        public var generation: ObjectEvidence?
        public init(version: UInt32, createdAt: Date, rotationType: String?, storage: String, keyMaterialId: String,
                    objects: [ObjectEvidence], generation: ObjectEvidence?) {
            self.version = version
            self.createdAt = createdAt
            self.rotationType = rotationType
            self.storage = storage
            self.keyMaterialId = keyMaterialId
            self.objects = objects
            self.generation = generation
        }
    }

    /// Who may do what: one row per principal and source (a policy
    /// statement or a grant).
    public struct AccessRow: Codable, Sendable, Hashable {
        public var principal: String
        public var effect: String
        public var operations: [String]
        public var source: String
        /// The statement has conditions (encryption context, algorithm ...):
        /// the operations are allowed only when they hold.
        public var conditional: Bool
        public init(principal: String, effect: String, operations: [String], source: String, conditional: Bool) {
            self.principal = principal
            self.effect = effect
            self.operations = operations
            self.source = source
            self.conditional = conditional
        }
    }

    public struct HistoryEntry: Codable, Sendable, Hashable {
        public var time: Date
        public var operation: String
        public var principal: String
        public var outcome: String
        public var requestId: String
        public var note: String?
        public init(time: Date, operation: String, principal: String, outcome: String, requestId: String, note: String?) {
            self.time = time
            self.operation = operation
            self.principal = principal
            self.outcome = outcome
            self.requestId = requestId
            self.note = note
        }
    }

    public struct UsageRow: Codable, Sendable, Hashable {
        public var principal: String
        public var operation: String
        public var count: Int
        public var denied: Int
        public var last: Date
        public init(principal: String, operation: String, count: Int, denied: Int, last: Date) {
            self.principal = principal
            self.operation = operation
            self.count = count
            self.denied = denied
            self.last = last
        }
    }

    public struct Finding: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable, CaseIterable {
            case rotationOverdue = "rotation-overdue"
            case extractableMaterial = "extractable-material"
            case nonLocalMaterial = "non-local-material"
            case importedMaterial = "imported-material"
            case broadPolicy = "broad-policy"
            case deletionPending = "deletion-pending"
            case auditGap = "audit-gap"
            case unused
        }
        public var kind: Kind
        /// `fault` for what a reviewer must act on, `notice` for what they
        /// should know (imported material, an unused key).
        public var severity: String
        public var keyId: String?
        public var message: String
        public init(kind: Kind, severity: String, keyId: String?, message: String) {
            self.kind = kind
            self.severity = severity
            self.keyId = keyId
            self.message = message
        }
    }

    /// The report's JSON: sorted keys, ISO 8601 times, snake_case names.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> ComplianceReport {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(ComplianceReport.self, from: data)
    }
}
