import Foundation
@testable import KMSCore
import KMSAuditFormat
import SoftHSMTestSupport
import Testing

/// The audit anchor in the token, and the log's start-up check against it.
@Suite("Audit anchor")
struct AuditAnchorTests {
    @Test func theAnchorFollowsCheckpointsAndATruncatedLogIsRefusedUntilAcknowledged() async throws {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let pool = try token.makePool(maxSessions: 2)
        defer { Task { try? await pool.shutdown() } }
        let anchor = HSMAuditAnchor(pool: pool)
        #expect(try await anchor.read() == nil)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-anchor-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let signer = SoftwareAuditSigner()
        let configuration = AuditLog.Configuration(directory: dir, checkpointEveryLines: 4, checkpointEverySeconds: 3600)
        let first = try await AuditLog(configuration: configuration, signer: signer, anchor: anchor)
        for i in 0..<3 { try await first.append(.sample(i)) }
        try await first.close()
        #expect(first.statistics.anchorFailures == 0)
        let keep = try String(contentsOfFile: dir + "/audit.log", encoding: .utf8)
        let recorded = try #require(try await anchor.read())
        #expect(recorded.sequence == 4) // three events and the closing checkpoint

        let second = try await AuditLog(configuration: configuration, signer: signer, anchor: anchor)
        #expect(second.truncation == nil)
        for i in 0..<6 { try await second.append(.sample(i)) }
        try await second.close()
        #expect(try await anchor.read()!.sequence > recorded.sequence)

        // Back to the end of the first run: the chain is whole, the anchor is not fooled.
        try keep.write(toFile: dir + "/audit.log", atomically: false, encoding: .utf8)
        #expect(try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem).isIntact)
        let third = try await AuditLog(configuration: configuration, signer: signer, anchor: anchor)
        let finding = try #require(third.truncation)
        #expect(finding.description.contains("ends at seq 4"), "\(finding)")
        #expect(!third.isWritable)
        await #expect(throws: AuditLogError.self) { try await third.append(.sample(99)) }
        #expect(throws: AuditLogError.self) { try third.ensureWritable() }
        #expect(finding.kmsError.message.contains("acknowledge-truncation"))

        #expect(try await third.acknowledgeTruncation(.service("acknowledged in a test", operation: "AcknowledgeAuditTruncation")))
        #expect(third.truncation == nil && third.isWritable)
        try await third.append(.sample(100))
        #expect(try await !third.acknowledgeTruncation(.service("again")))
        try await third.close()
        #expect(try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem).isIntact)
        let reopened = try await AuditLog(configuration: configuration, signer: signer, anchor: anchor)
        #expect(reopened.truncation == nil, "the anchor moved to the acknowledged log")
        try await reopened.close()
    }
}
