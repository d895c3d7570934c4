import Foundation
@testable import KMSCore
import KMSAuditFormat
import KMSModel
import PKCS11
import Testing

/// The compliance report from an engine on a real token, with requests
/// through the real pipeline into a real audit log, and a manual clock.
@Suite("Compliance report")
struct ComplianceReportTests {
    @Test("each finding comes from what the HSM, the store and the verified audit log say; the signature catches an edit")
    func findingsEvidenceAndSignature() async throws {
        // uid 1000 administers, so its own keys' default policies are not "broad".
        try await withEngine(.token, configure: { $0.accessControl.admins = PrincipalSet(users: ["tester"], uids: [1000]) }) { f in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-report-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let signer = SoftwareAuditSigner()
            let audit = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 4, checkpointEverySeconds: 3600),
                                           signer: signer)
            let service = KMSService(engine: f.engine, audit: audit)
            let caller = f.caller
            func call<T: Sendable>(_ op: KMSOperation,
                                   _ body: @escaping @Sendable (KMSEngine, Principal, AuditFacts) async throws -> T) async throws -> T {
                try await service.handle(KMSService.Request(target: nil, body: Data(), caller: caller), operation: op, body).get()
            }
            func create() async throws -> String {
                let made = try await call(.createKey) { e, c, x in try await e.createKey(CreateKeyRequest(), caller: c, facts: x) }
                return made.keyMetadata.keyId
            }
            let plain = try await create()
            let open = try await create()
            let everyone = #"{"Version":"2012-10-17","Statement":[{"Sid":"everyone","Effect":"Allow","Principal":"*","Action":"kms:*"}]}"#
            _ = try await call(.putKeyPolicy) { e, c, x in
                try await e.putKeyPolicy(PutKeyPolicyRequest(keyId: open, policy: everyone, bypassPolicyLockoutSafetyCheck: true),
                                         caller: c, facts: x)
            }
            let doomed = try await create()
            _ = try await call(.scheduleKeyDeletion) { e, c, x in
                try await e.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: doomed, pendingWindowInDays: 30), caller: c, facts: x)
            }
            let rotating = try await create()
            _ = try await call(.enableKeyRotation) { e, c, x in
                try await e.enableKeyRotation(EnableKeyRotationRequest(keyId: rotating, rotationPeriodInDays: 90), caller: c, facts: x)
            }
            _ = try await call(.disableKey) { e, c, x in try await e.disableKey(KeyIdRequest(keyId: rotating), caller: c, facts: x) }
            _ = try await call(.encrypt) { e, c, x in
                try await e.encrypt(EncryptRequest(keyId: plain, plaintext: Data("hello".utf8)), caller: c, facts: x)
            }
            // A version's material swapped on the token for a key typed in from outside.
            let swapped = try await create()
            let objectID = try #require(try await f.store.versions(keyID: swapped).first?.objectID)
            let session = try f.token.openUserSession()
            for handle in try session.findObjects([.id(objectID)]) { try session.destroyObject(handle) }
            _ = try session.createObject([
                .class(.secretKey), .keyType(.aes), .token(true), .private(true), .sensitive(true), .extractable(false),
                .id(objectID), .label("p11kms/\(swapped)/v1"), .value((0..<32).map { _ in UInt8.random(in: 0...255) }),
                Attribute(.encrypt, bool: true), Attribute(.decrypt, bool: true)])
            // Not p11kms's: a secret someone put on the token by hand, readable outside it.
            _ = try session.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt, token: true, sensitive: false,
                                                                    extractable: true, label: "exported-by-hand"))
            try session.close()
            f.clock.advance(days: 100)

            let request = KMSEngine.ReportRequest(keyIDs: nil, since: nil, generatedBy: "uid:1000", auditDirectory: dir,
                                                  auditPublicKeyDER: signer.publicKeyDER)
            let report = try await f.engine.complianceReport(request)
            let kinds = Dictionary(grouping: report.findings, by: { $0.keyId ?? "-" }).mapValues { Set($0.map(\.kind)) }
            #expect(kinds[plain] == [.unused], "\(report.findings)")
            #expect(kinds[open] == [.broadPolicy, .unused], "\(report.findings)")
            #expect(kinds[doomed] == [.deletionPending], "\(report.findings)")
            #expect(kinds[rotating] == [.rotationOverdue], "\(report.findings)")
            #expect(kinds[swapped] == [.nonLocalMaterial, .unused], "\(report.findings)")
            #expect(kinds["-"] == [.extractableMaterial], "the hand-made object, and nothing about the audit log: \(report.findings)")
            #expect(report.otherTokenObjects.map(\.label) == ["exported-by-hand"])
            #expect(report.audit.intact && report.audit.keyFingerprint == AuditPublicKey.fingerprint(signer.publicKeyDER))

            // What the HSM says about p11kms's own material: made there, never readable outside.
            let plainEvidence = try #require(report.keys.first { $0.keyId == plain })
            #expect(plainEvidence.versions[0].generation?.local == true, "recorded at generation, sealed")
            let material = plainEvidence.versions[0].objects
            let bound = !material.isEmpty && material.allSatisfy { $0.isHardwareBound }
            #expect(bound, "\(material)")
            #expect(plainEvidence.usage.map { "\($0.principal) \($0.operation) \($0.count)" } == ["uid:1000 (tester) Encrypt 1"])
            let rotatingEvidence = try #require(report.keys.first { $0.keyId == rotating })
            #expect(rotatingEvidence.history.map(\.operation) == ["CreateKey", "EnableKeyRotation", "DisableKey"])
            let openEvidence = try #require(report.keys.first { $0.keyId == open })
            #expect(openEvidence.access.contains { $0.principal == "*" && $0.operations.count == KMSOperation.policyActions.count })

            // Signed, the report opens only as written and only for its key.
            let document = try report.encoded()
            let file = try SignedDocument.seal(document, signature: try await signer.sign(digest: SignedDocument.digest(document)),
                                               publicKeyDER: signer.publicKeyDER)
            let fingerprint = AuditPublicKey.fingerprint(signer.publicKeyDER)
            #expect(try SignedDocument.open(file, expectedFingerprint: fingerprint).document == document)
            #expect(try ComplianceReport.decode(document).encoded() == document, "the JSON reads back as written")
            var edited = [UInt8](file)
            let at = try #require(String(decoding: edited, as: UTF8.self).range(of: "rotation-overdue")).lowerBound.utf16Offset(in: String(decoding: edited, as: UTF8.self))
            edited[at] = UInt8(ascii: "R")
            #expect(throws: SignedDocument.Invalid.self) { try SignedDocument.open(Data(edited)) }
            #expect(throws: SignedDocument.Invalid.self) {
                try SignedDocument.open(file, expectedFingerprint: AuditPublicKey.fingerprint(SoftwareAuditSigner().publicKeyDER))
            }

            // An edited audit log: the report says so, and trusts none of it past the edit.
            try await audit.close()
            let path = dir + "/audit.log"
            let log = try String(contentsOfFile: path, encoding: .utf8)
            try log.replacingOccurrences(of: "\"operation\":\"DisableKey\"", with: "\"operation\":\"EnableKey\"")
                .write(toFile: path, atomically: false, encoding: .utf8)
            let gap = try await f.engine.complianceReport(request)
            #expect(!gap.audit.intact && gap.findings.contains { $0.kind == .auditGap })
            #expect(gap.keys.first { $0.keyId == rotating }?.history.map(\.operation) == ["CreateKey", "EnableKeyRotation"])
        }
    }
}
