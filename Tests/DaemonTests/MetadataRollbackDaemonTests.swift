import Crypto
import DaemonTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The reproduction (#14, finding 2): a key's sealed Enabled row is
/// saved, the key is scheduled for deletion, and the old row is put back
/// with sqlite3. The seal is valid; the token's metadata anchor is not fooled.
@Suite("Metadata rollback, end to end", .serialized)
struct MetadataRollbackDaemonTests {
    /// The anchor's bucket of a key (as `MetadataAnchorValue.bucket(ofKey:)`),
    /// so the bystander is never held with the victim by chance.
    static func bucket(_ keyID: String) -> Int {
        SHA256.hash(data: Array(keyID.utf8)).withUnsafeBytes { (Int($0[0]) << 8 | Int($0[1])) % 1024 }
    }

    static func createKey(_ d: DaemonProcess, apartFrom others: [String]) throws -> String {
        while true {
            let id = (try d.callJSON("CreateKey", [:]).1["KeyMetadata"] as! [String: Any])["KeyId"] as! String
            if !others.map(bucket).contains(bucket(id)) { return id }
        }
    }

    @Test func aReplayedRowIsRefusedReportedAuditedAndAcknowledged() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let plaintext = Data("x".utf8).base64EncodedString()
        let first = try await DaemonProcess(stateDirectory: state)
        let victim = try Self.createKey(first, apartFrom: [])
        let bystander = try Self.createKey(first, apartFrom: [victim])
        let db = state + "/metadata.sqlite"
        let saved = state + "/saved.sqlite"
        let (backedUp, _) = try await DaemonProcess.run("/usr/bin/sqlite3", [db, ".backup '\(saved)'"])
        #expect(backedUp == 0)
        let (scheduled, _) = try first.callJSON("ScheduleKeyDeletion", ["KeyId": victim, "PendingWindowInDays": 7])
        #expect(scheduled == 200)
        #expect(try await first.stop() == 0)

        // The old row, seal and all, goes back (sqlite3 leaves foreign keys off,
        // so REPLACE keeps the versions).
        let (rc, out) = try await DaemonProcess.run("/usr/bin/sqlite3", [db, """
            ATTACH '\(saved)' AS old; INSERT OR REPLACE INTO keys SELECT * FROM old.keys WHERE key_id = '\(victim)';
            SELECT state FROM keys WHERE key_id = '\(victim)';
            """])
        #expect(rc == 0 && out.contains("Enabled"), "\(out)")

        let second = try await DaemonProcess(stateDirectory: state)
        let (status, error) = try second.callJSON("Encrypt", ["KeyId": victim, "Plaintext": plaintext])
        #expect(status == 400 && error["__type"] as? String == "KMSInvalidStateException", "\(error)")
        #expect(try second.callJSON("Encrypt", ["KeyId": bystander, "Plaintext": plaintext]).0 == 200)
        let health = try second.client().get("/health")
        #expect(health.status == 503)
        #expect((health.json["metadata_tampered"] as? [String: String])?[victim]?.contains("anchor") == true, "\(health.json)")
        let (_, statusText) = try await DaemonProcess.run(try DaemonProcess.cli(), ["status", "--socket", second.socketPath])
        #expect(statusText.contains(victim), "\(statusText)")

        let (ackStatus, ack) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "metadata", "acknowledge-rollback", "--socket", second.socketPath], withErrors: true)
        #expect(ackStatus == 0 && ack.contains("accepted the metadata of 1 keys") && ack.contains(victim), "\(ack)")
        #expect(try await second.stop() == 0)
        let audit = try String(contentsOfFile: state + "/audit/audit.log", encoding: .utf8).split(separator: "\n")
        #expect(audit.contains { $0.contains("MetadataIntegrity") && $0.contains(victim) && $0.contains("earlier moment") })
        #expect(audit.contains { $0.contains("AcknowledgeMetadataRollback") && $0.contains("\"uid\":\(getuid())") })

        // Accepted: the key serves in the state the database holds.
        let third = try await DaemonProcess(stateDirectory: state)
        #expect(try third.callJSON("Encrypt", ["KeyId": victim, "Plaintext": plaintext]).0 == 200)
        #expect(try third.client().get("/health").status == 200)
        let (_, again) = try await DaemonProcess.run(try DaemonProcess.cli(), ["metadata", "acknowledge-rollback", "--socket", third.socketPath])
        #expect(again.contains("nothing to acknowledge"), "\(again)")
        #expect(try await third.stop() == 0)
    }
}
