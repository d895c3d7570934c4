import Foundation
import KMSAuditFormat
import KMSCore
import KMSModel

/// `POST /admin/report` on the Unix socket: the signed compliance report
/// (`p11kms report`) or one key's attestation (`p11kms key attest`), for
/// the daemon's admins. The body is JSON:
/// `{"key_ids": [...], "since": "2026-01-01T00:00:00Z", "unused_days": 90, "attestation": false}`,
/// every member optional. The answer is the signed file as `SignedDocument`
/// writes it, byte for byte what the CLI saves. Each report is an audit line.
extension KMSServer {
    struct ReportParameters: Decodable {
        var keyIds: [String]?
        var since: String?
        var unusedDays: Int?
        var attestation: Bool?
        enum CodingKeys: String, CodingKey {
            case since, attestation
            case keyIds = "key_ids", unusedDays = "unused_days"
        }
    }

    func complianceReport(body: Data, peer: Principal?) async -> Response {
        guard let peer, engine.configuration.accessControl.admins.contains(peer) else {
            return error(KMSError(.accessDenied, "Only the daemon's admins ([access] admins) may generate compliance reports."),
                         status: .forbidden)
        }
        let parameters: ReportParameters
        do {
            parameters = body.isEmpty ? ReportParameters() : try JSONDecoder().decode(ReportParameters.self, from: body)
        } catch {
            return self.error(KMSError.validation("The report request must be JSON with key_ids, since, unused_days and attestation."))
        }
        var since: Date?
        if let text = parameters.since {
            guard let date = try? Date.ISO8601FormatStyle().parse(text) else {
                return error(KMSError.validation("since \(text.prefix(64)) is not an ISO 8601 time such as 2026-01-02T03:04:05Z."))
            }
            since = date
        }
        let unusedDays = parameters.unusedDays ?? 90
        guard (1...3650).contains(unusedDays) else { return error(KMSError.validation("unused_days must be 1 to 3650.")) }
        let attestation = parameters.attestation ?? false
        if attestation, parameters.keyIds?.count != 1 {
            return error(KMSError.validation("An attestation is for exactly one key."))
        }
        let audit = service.audit
        do {
            let report = try await engine.complianceReport(KMSEngine.ReportRequest(
                keyIDs: parameters.keyIds, since: since, unusedDays: unusedDays, attestation: attestation,
                generatedBy: "uid:\(peer.uid)", auditDirectory: audit.configuration.filePath ?? audit.configuration.directory,
                auditPublicKeyDER: audit.publicKeyDER))
            let document = try report.encoded()
            let signature = try await audit.sign(digest: SignedDocument.digest(document))
            let file = try SignedDocument.seal(document, signature: signature, publicKeyDER: audit.publicKeyDER)
            try await audit.append(AuditEvent(
                requestID: UUID().uuidString.lowercased(), operation: attestation ? "AttestKey" : "GenerateComplianceReport",
                principal: AuditPrincipal(peer), keyID: attestation ? report.keys.first?.keyId : nil, outcome: .allowed,
                note: "\(report.keys.count) keys, \(report.findings.count) findings, SHA-256 of the report "
                    + AuditLine.hex(SignedDocument.digest(document))))
            return Response(status: .ok, contentType: "application/json", body: file)
        } catch let e as KMSError {
            return error(e)
        } catch {
            logger.error("compliance report failed: \(error)")
            return self.error(KMSError.internalError("The report could not be made: \(error)."))
        }
    }
}
