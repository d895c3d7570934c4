import Foundation
import KMSAuditFormat
import KMSModel
import KMSTokenSetup
import PKCS11

/// `p11kms report` and `p11kms key attest`: the evidence a compliance
/// reviewer needs, gathered at report time from the three places that can
/// vouch for it: the HSM (attributes of every object, read now), the
/// sealed metadata store (keys, versions, policies, grants), and the audit
/// log, read only as far as its hash chain and signatures check out.
extension KMSEngine {
    public struct ReportRequest: Sendable {
        /// Nil: every key.
        public var keyIDs: [String]?
        /// Usage is counted from here; nil: the whole log.
        public var since: Date?
        /// An enabled key unused this many days is flagged.
        public var unusedDays: Int
        /// `attestation`: the chosen keys' HSM evidence only (no other
        /// token objects), the small form for a ticket.
        public var attestation: Bool
        public var generatedBy: String
        public var auditDirectory: String
        public var auditPublicKeyDER: [UInt8]

        public init(keyIDs: [String]?, since: Date?, unusedDays: Int = 90, attestation: Bool = false, generatedBy: String,
                    auditDirectory: String, auditPublicKeyDER: [UInt8]) {
            self.keyIDs = keyIDs
            self.since = since
            self.unusedDays = unusedDays
            self.attestation = attestation
            self.generatedBy = generatedBy
            self.auditDirectory = auditDirectory
            self.auditPublicKeyDER = auditPublicKeyDER
        }
    }

    /// Operations whose audit lines make a key's history (the rest are uses).
    static let lifecycleOperations: Set<String> = [
        "CreateKey", "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "DeleteKey", "PutKeyPolicy",
        "EnableKeyRotation", "DisableKeyRotation", "RotateKeyOnDemand", "RotateKey", "RotationOverdue",
        "CreateGrant", "RetireGrant", "RevokeGrant", "ImportKeyMaterial", "DeleteImportedKeyMaterial",
        "DeleteExpiredKeyMaterial", "ImportKeyMaterialExpiring", "UpdateKeyDescription", "TagResource", "UntagResource",
        "MetadataIntegrity",
    ]

    public func complianceReport(_ request: ReportRequest) async throws -> ComplianceReport {
        let now = clock.now
        var findings: [ComplianceReport.Finding] = []

        // The keys asked for; an unknown one is an error, not an empty row.
        var records: [KeyRecord] = []
        if let ids = request.keyIDs {
            for raw in ids {
                let id = raw.range(of: ":key/").map { String(raw[$0.upperBound...]) } ?? raw
                guard let key = try await store.key(id: id) else { throw KMSError.notFound("Key \(raw) does not exist.") }
                records.append(key)
            }
        } else {
            var marker: String?
            while true {
                let page = try await store.keys(after: marker, limit: 500)
                records += page
                guard page.count == 500 else { break }
                marker = page.last?.keyID
            }
        }

        // The whole log is read and checked: seconds for a large one, so on a
        // thread of its own, not on Swift's cooperative pool.
        let (audit, events) = try await Self.onOwnThread { [request] in try Self.readVerifiedAudit(request) }
        if !audit.intact {
            findings.append(.init(kind: .auditGap, severity: "fault", keyId: nil,
                                  message: "The audit log does not verify: \(audit.problem ?? "unknown problem"). "
                                      + "History and usage below stop at the last line that checks out."))
        }
        let byKey = Dictionary(grouping: events.filter { $0.keyID != nil }, by: { $0.keyID! })

        let info = try await pool.runBlocking { [pool] in try pool.token.info() }
        let token = ComplianceReport.TokenEvidence(label: info.label, manufacturer: info.manufacturerID, model: info.model,
                                                   serialNumber: info.serialNumber, keyStorage: configuration.keyStorage.rawValue)
        var versionsByKey: [String: [VersionRecord]] = [:]
        for key in records { versionsByKey[key.keyID] = try await store.versions(keyID: key.keyID) }
        let tokenView = try await readTokenObjects(records, versionsByKey, includeOthers: !request.attestation)

        var keys: [ComplianceReport.KeyEvidence] = []
        for key in records {
            let versions = versionsByKey[key.keyID] ?? []
            let keyEvents = byKey[key.keyID] ?? []
            let evidence = ComplianceReport.KeyEvidence(
                keyId: key.keyID, arn: arn(key), description: key.description, keySpec: key.keySpec.rawValue,
                keyUsage: key.keyUsage.rawValue, origin: key.origin.rawValue, state: key.state.rawValue,
                creationDate: key.createdAt, customKeyStoreId: key.customKeyStoreID, rotationEnabled: key.rotationEnabled,
                rotationPeriodInDays: key.rotationEnabled ? key.rotationPeriodInDays : nil,
                nextRotationDate: key.rotationEnabled ? key.nextRotationDate : nil, deletionDate: key.deletionDate,
                versions: versions.map { v in
                    ComplianceReport.VersionEvidence(
                        version: v.version, createdAt: v.createdAt, rotationType: v.rotationType?.rawValue,
                        storage: v.storage.rawValue, keyMaterialId: v.keyMaterialID,
                        objects: tokenView.versions[VersionKey(keyID: key.keyID, version: v.version)] ?? [],
                        generation: v.generationAttributes.map { g in
                            .init(role: "version \(v.version) when generated (sealed in the store)", label: "", objectClass:
                                    key.keySpec.isAsymmetric ? "private key" : "secret key", id: nil, local: g.local,
                                  alwaysSensitive: g.alwaysSensitive, neverExtractable: g.neverExtractable,
                                  extractable: g.extractable, sensitive: g.sensitive)
                        })
                },
                kek: tokenView.keks[key.keyID],
                access: try await accessRows(key),
                history: keyEvents.filter { Self.lifecycleOperations.contains($0.operation) }.map(Self.historyEntry),
                usage: Self.usage(keyEvents, since: request.since),
                lastUsed: keyEvents.last { $0.outcome == .allowed && KMSOperation(rawValue: $0.operation)?.isCryptographic == true }?.time)
            findings += self.findings(key, evidence, now: now, unusedDays: request.unusedDays)
            keys.append(evidence)
        }
        if configuration.keyStorage == .wrapped, unwrapEnforcement?.isEnforced == false {
            findings.append(.init(kind: .extractableMaterial, severity: "fault", keyId: nil,
                                  message: "The token does not enforce the domain key's unwrap template: a PIN holder could unwrap a "
                                      + "KEK as extractable. Run p11kmsd --replace-domain-key (see the README)."))
        }
        for object in tokenView.others where object.isExtractable {
            findings.append(.init(kind: .extractableMaterial, severity: "fault", keyId: nil,
                                  message: "Token object \"\(object.label)\" (\(object.objectClass)) is not owned by p11kms and its "
                                      + "material can leave the HSM (CKA_EXTRACTABLE \(Self.text(object.extractable)), "
                                      + "CKA_SENSITIVE \(Self.text(object.sensitive)))."))
        }
        return ComplianceReport(
            kind: request.attestation ? "attestation" : "report", generatedAt: now, since: request.since,
            generatedBy: request.generatedBy, token: token, audit: audit, domainKey: tokenView.domainKey,
            unwrapTemplateEnforced: configuration.keyStorage == .wrapped ? unwrapEnforcement?.isEnforced : nil, keys: keys,
            otherTokenObjects: tokenView.others, findings: findings)
    }

    // MARK: The audit log

    private static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    private static func readVerifiedAudit(_ request: ReportRequest) throws -> (ComplianceReport.AuditEvidence, [AuditEvent]) {
        let pem = AuditPublicKey.pem(request.auditPublicKeyDER)
        let verification = try AuditVerifier.verify(path: request.auditDirectory, publicKeyPEM: pem)
        // Only lines up to the first problem are trusted.
        var remaining = verification.linesChecked
        var events: [AuditEvent] = []
        let decoder = JSONDecoder()
        for file in verification.files where remaining > 0 {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                guard remaining > 0 else { break }
                remaining -= 1
                if let event = try? decoder.decode(AuditEvent.self, from: Data(line.utf8)) { events.append(event) }
            }
        }
        let evidence = ComplianceReport.AuditEvidence(
            keyFingerprint: AuditPublicKey.fingerprint(request.auditPublicKeyDER), intact: verification.isIntact,
            problem: verification.firstProblem?.description, linesChecked: verification.linesChecked,
            checkpointsVerified: verification.checkpointsVerified, unsignedTailLines: verification.unsignedTailLines,
            firstLineTime: events.first?.time, lastLineTime: events.last?.time)
        return (evidence, events)
    }

    private static func historyEntry(_ e: AuditEvent) -> ComplianceReport.HistoryEntry {
        .init(time: e.time, operation: e.operation, principal: e.principal.name, outcome: e.outcome.rawValue,
              requestId: e.requestID, note: e.note)
    }

    private static func usage(_ events: [AuditEvent], since: Date?) -> [ComplianceReport.UsageRow] {
        struct Cell { var count = 0, denied = 0, last = Date.distantPast }
        var cells: [String: [String: Cell]] = [:]
        for e in events where !lifecycleOperations.contains(e.operation) && (since.map { e.time >= $0 } ?? true) {
            var cell = cells[e.principal.name, default: [:]][e.operation, default: Cell()]
            if e.outcome == .allowed { cell.count += 1 } else { cell.denied += 1 }
            cell.last = max(cell.last, e.time)
            cells[e.principal.name, default: [:]][e.operation] = cell
        }
        return cells.sorted { $0.key < $1.key }.flatMap { who, ops in
            ops.sorted { $0.key < $1.key }.map { .init(principal: who, operation: $0.key, count: $0.value.count,
                                                       denied: $0.value.denied, last: $0.value.last) }
        }
    }

    // MARK: Who may use it

    private func accessRows(_ key: KeyRecord) async throws -> [ComplianceReport.AccessRow] {
        var rows: [ComplianceReport.AccessRow] = []
        if let policy = try? parsedPolicy(key) {
            for statement in policy.statements {
                let operations = KMSOperation.policyActions.filter { statement.actions.matches($0) }
                for who in Self.names(statement.principals) {
                    rows.append(.init(principal: who, effect: statement.effect.rawValue, operations: operations,
                                      source: "key policy statement \(statement.name)", conditional: !statement.conditions.isEmpty))
                }
            }
        }
        for grant in try await store.grants(keyID: key.keyID) {
            rows.append(.init(principal: grant.granteePrincipal, effect: "Allow",
                              operations: grant.operations.map { "kms:" + $0.rawValue }, source: "grant \(grant.grantID)",
                              conditional: grant.constraints != nil))
        }
        return rows
    }

    static func names(_ p: KeyPolicy.Principals) -> [String] {
        if p.anyone { return ["*"] }
        return p.uids.map { "uid:\($0)" } + p.users.map { "user:" + $0 } + p.gids.map { "gid:\($0)" }
            + p.groups.map { "group:" + $0 } + p.accessKeyNames.map { "access_key:" + $0 }
    }

    /// Whether every entry of `p` is one of the daemon's admins.
    private func onlyAdmins(_ p: KeyPolicy.Principals) -> Bool {
        let admins = configuration.accessControl.admins
        if admins.everyone { return true }
        if p.anyone { return false }
        // A user or group named in one and numbered in the other is the same admin.
        func userIsAdmin(_ name: String) -> Bool {
            admins.users.contains(name) || getpwnam(name).map { admins.uids.contains($0.pointee.pw_uid) } ?? false
        }
        func groupIsAdmin(_ name: String) -> Bool {
            admins.groups.contains(name) || getgrnam(name).map { admins.gids.contains($0.pointee.gr_gid) } ?? false
        }
        return p.uids.allSatisfy(admins.uids.contains) && p.users.allSatisfy(userIsAdmin)
            && p.gids.allSatisfy(admins.gids.contains) && p.groups.allSatisfy(groupIsAdmin)
            && p.accessKeyNames.allSatisfy(admins.accessKeys.contains)
    }

    // MARK: Findings

    private func findings(_ key: KeyRecord, _ evidence: ComplianceReport.KeyEvidence, now: Date,
                          unusedDays: Int) -> [ComplianceReport.Finding] {
        var found: [ComplianceReport.Finding] = []
        func add(_ kind: ComplianceReport.Finding.Kind, _ severity: String, _ message: String) {
            found.append(.init(kind: kind, severity: severity, keyId: key.keyID, message: message))
        }
        if key.rotationEnabled, let next = key.nextRotationDate, next < now {
            add(.rotationOverdue, "fault", "Automatic rotation was due \(Self.day(next)) (every \(key.rotationPeriodInDays ?? 0) days) "
                + "and has not happened; the key is \(key.state.rawValue).")
        }
        if key.state == .pendingDeletion {
            add(.deletionPending, "notice", "Deletion is scheduled for \(key.deletionDate.map(Self.day) ?? "?").")
        }
        if key.origin == .external {
            add(.importedMaterial, "notice", "The key material was imported (Origin EXTERNAL): it was made outside this HSM, "
                + "so CKA_LOCAL and CKA_ALWAYS_SENSITIVE cannot hold for it.")
        } else {
            for version in evidence.versions {
                for object in version.objects {
                    if object.isExtractable {
                        add(.extractableMaterial, "fault", "Version \(version.version)'s \(object.objectClass) can leave the HSM "
                            + "(CKA_EXTRACTABLE \(Self.text(object.extractable)), CKA_SENSITIVE \(Self.text(object.sensitive))).")
                    }
                    if object.local != true || object.alwaysSensitive != true || object.neverExtractable != true {
                        add(.nonLocalMaterial, "fault", "Version \(version.version)'s \(object.objectClass) was not made in this "
                            + "HSM and kept sensitive throughout (CKA_LOCAL \(Self.text(object.local)), CKA_ALWAYS_SENSITIVE "
                            + "\(Self.text(object.alwaysSensitive)), CKA_NEVER_EXTRACTABLE \(Self.text(object.neverExtractable))).")
                    }
                }
            }
        }
        for version in evidence.versions where key.origin != .external {
            // Wrapped at birth, so CKA_EXTRACTABLE and CKA_NEVER_EXTRACTABLE say
            // nothing there; made in the HSM and sensitive from the start must hold.
            if let g = version.generation, g.local != true || g.alwaysSensitive != true || g.sensitive != true {
                add(.nonLocalMaterial, "fault", "Version \(version.version) was not generated in this HSM as sensitive "
                    + "(at generation: CKA_LOCAL \(Self.text(g.local)), CKA_ALWAYS_SENSITIVE \(Self.text(g.alwaysSensitive))).")
            }
        }
        if let kek = evidence.kek, kek.isExtractable {
            add(.extractableMaterial, "fault", "The key's KEK can leave the HSM (CKA_EXTRACTABLE \(Self.text(kek.extractable))).")
        }
        if let policy = try? parsedPolicy(key) {
            for statement in policy.statements where statement.effect == .allow && statement.conditions.isEmpty
                && KMSOperation.policyActions.allSatisfy({ statement.actions.matches($0) }) && !onlyAdmins(statement.principals) {
                add(.broadPolicy, "fault", "Key policy statement \(statement.name) allows kms:* to "
                    + Self.names(statement.principals).joined(separator: ", ") + ", not only to the daemon's admins.")
            }
        }
        if key.state == .enabled, key.createdAt < now.addingTimeInterval(-Double(unusedDays) * 86_400),
           (evidence.lastUsed ?? .distantPast) < now.addingTimeInterval(-Double(unusedDays) * 86_400) {
            add(.unused, "notice", "No cryptographic use in the last \(unusedDays) days"
                + (evidence.lastUsed.map { " (last \(Self.day($0)))" } ?? " (none on record)") + ".")
        }
        return found
    }

    private static func day(_ date: Date) -> String { AuditLine.formatTime(date) }
    private static func text(_ b: Bool?) -> String { b.map { $0 ? "true" : "false" } ?? "unknown" }

    // MARK: The token

    struct VersionKey: Hashable {
        let keyID: String
        let version: UInt32
    }

    struct TokenView {
        var domainKey: ComplianceReport.ObjectEvidence?
        var keks: [String: ComplianceReport.ObjectEvidence] = [:]
        var versions: [VersionKey: [ComplianceReport.ObjectEvidence]] = [:]
        var others: [ComplianceReport.ObjectEvidence] = []
    }

    /// One pass over the token's secret and private keys: each is the domain
    /// key, a KEK, a version's material, another daemon object, or not ours.
    private func readTokenObjects(_ keys: [KeyRecord], _ versions: [String: [VersionRecord]],
                                  includeOthers: Bool) async throws -> TokenView {
        var owners: [[UInt8]: VersionKey] = [:]
        for (keyID, list) in versions {
            for v in list where v.storage == .token { owners[v.objectID] = VersionKey(keyID: keyID, version: v.version) }
        }
        let wanted = Set(keys.map(\.keyID))
        let versionOwners = owners
        let daemonLabels: Set<String> = [TokenSetup.auditKeyLabel, TokenSetup.sealKeyLabel, KMSEngine.secretsKeyLabel]
        return try await pool.withSession { s in
            var view = TokenView()
            for cls in [ObjectClass.secretKey, .privateKey] {
                for handle in try s.findObjects([.class(cls), .token(true)]) {
                    let label = (try? s.attribute(.label, of: handle))?.stringValue ?? ""
                    let id = (try? s.attribute(.id, of: handle))?.value ?? []
                    func evidence(_ role: String) -> ComplianceReport.ObjectEvidence {
                        func flag(_ t: AttributeType) -> Bool? { (try? s.attribute(t, of: handle))?.boolValue }
                        return .init(role: role, label: label, objectClass: cls == .secretKey ? "secret key" : "private key",
                                     id: id.isEmpty ? nil : id.map { String(format: "%02x", $0) }.joined(),
                                     local: flag(.local), alwaysSensitive: flag(.alwaysSensitive),
                                     neverExtractable: flag(.neverExtractable), extractable: flag(.extractable),
                                     sensitive: flag(.sensitive))
                    }
                    if label == KeyVault.domainKeyLabel {
                        view.domainKey = evidence("domain key: unwraps every per-key KEK")
                    } else if label.hasPrefix(KeyVault.kekLabelPrefix) {
                        let keyID = String(label.dropFirst(KeyVault.kekLabelPrefix.count))
                        if wanted.contains(keyID) { view.keks[keyID] = evidence("KEK of key \(keyID)") }
                    } else if let owner = versionOwners[id] {
                        view.versions[owner, default: []].append(evidence("material of version \(owner.version)"))
                    } else if daemonLabels.contains(label) || label.hasPrefix(KeyVault.kekLabelPrefix) {
                        continue
                    } else if includeOthers, !Self.isOurs(label: label) {
                        view.others.append(evidence("not a p11kms key"))
                    }
                }
            }
            return view
        }
    }

    /// Labels of token-mode versions and pending KEKs of keys not in this report.
    private static func isOurs(label: String) -> Bool { label.hasPrefix("p11kms/") || label.hasPrefix("p11kms-") }
}
