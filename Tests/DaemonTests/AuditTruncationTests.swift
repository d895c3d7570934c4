import DaemonTestSupport
import Foundation
import Testing

/// Lines cut off the end of the audit log while the daemon is stopped, back
/// to an earlier checkpoint, leave a chain that verifies. The token's anchor
/// (the last checkpoint's seq and hash) makes the daemon notice at start-up,
/// refuse every request, and serve again only after an admin acknowledges it
/// with a command that is itself audited (issue #14).
@Suite("Audit log truncation", .serialized)
struct AuditTruncationTests {
    @Test func aLogCutBackToAnEarlierCheckpointIsRefusedUntilAcknowledged() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let plaintext = Data("truncation".utf8).base64EncodedString()

        // Two runs, each ending with a checkpoint at shutdown.
        var keyID = ""
        var firstRunLines = 0
        for run in 0..<2 {
            let d = try await DaemonProcess(stateDirectory: state)
            if run == 0 {
                keyID = try #require(try d.callJSON("CreateKey", [:]).1["KeyMetadata"].flatMap { $0 as? [String: Any] }?["KeyId"] as? String)
            }
            for _ in 0..<5 { #expect(try d.callJSON("Encrypt", ["KeyId": keyID, "Plaintext": plaintext]).0 == 200) }
            #expect(try await d.stop() == 0)
            if run == 0 { firstRunLines = try lines(state).count }
        }

        // Cut the second run off: what is left still verifies on its own.
        let all = try lines(state)
        #expect(all.count > firstRunLines)
        try (all.prefix(firstRunLines).joined(separator: "\n") + "\n").write(toFile: state + "/audit/audit.log",
                                                                              atomically: false, encoding: .utf8)
        let (verifyStatus, report) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "verify", state + "/audit", "--public-key", state + "/audit-public-key.pem", "--require-signed"])
        #expect(verifyStatus == 0 && report.contains("intact"), "\(report)")

        // The daemon is not fooled: it refuses, and says why.
        let d = try await DaemonProcess(stateDirectory: state)
        let (refusedStatus, refused) = try d.callJSON("Encrypt", ["KeyId": keyID, "Plaintext": plaintext])
        #expect(refusedStatus == 500 && refused["__type"] as? String == "KMSInternalException", "\(refused)")
        #expect((refused["message"] as? String)?.contains("acknowledge-truncation") == true, "\(refused)")
        let (_, status) = try await DaemonProcess.run(try DaemonProcess.cli(), ["status", "--socket", d.socketPath])
        #expect(status.contains("audit_truncated"), "\(status)")

        let (ackStatus, ack) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "acknowledge-truncation", "--socket", d.socketPath], withErrors: true)
        #expect(ackStatus == 0 && ack.contains("acknowledged: the audit log ends at seq"), "\(ack)")
        #expect(try d.callJSON("Encrypt", ["KeyId": keyID, "Plaintext": plaintext]).0 == 200)
        let (_, again) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "acknowledge-truncation", "--socket", d.socketPath])
        #expect(again.contains("nothing to acknowledge"), "\(again)")
        #expect(try await d.stop() == 0)

        // The acknowledgement is the first line after the cut, with who made it.
        let after = try lines(state)
        let ackLine = try #require(after.dropFirst(firstRunLines).first)
        #expect(ackLine.contains("\"operation\":\"AcknowledgeAuditTruncation\""), "\(ackLine)")
        #expect(ackLine.contains("\"uid\":\(getuid())"), "\(ackLine)")
        let (finalStatus, finalReport) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "verify", state + "/audit", "--public-key", state + "/audit-public-key.pem", "--require-signed"])
        #expect(finalStatus == 0, "\(finalReport)")
    }

    private func lines(_ state: String) throws -> [String] {
        try String(contentsOfFile: state + "/audit/audit.log", encoding: .utf8).split(separator: "\n").map(String.init)
    }
}
