import DaemonTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Key policies against callers the kernel identifies, and the audit trail
/// they leave, checked offline with `p11kms audit verify`.
@Suite("Access control and audit, end to end", .serialized)
struct AccessAndAuditTests {
    static let secret = "attack at dawn, tenant acme"

    /// Runs one request as another uid (setpriv), through curl.
    func call(as uid: UInt32, _ d: DaemonProcess, _ op: String, _ body: [String: Any]) async throws -> (Int, [String: Any]) {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let (_, out) = try await DaemonProcess.run("/usr/bin/setpriv", [
            "--reuid=\(uid)", "--regid=65534", "--clear-groups", "/usr/bin/curl", "-s", "--unix-socket", d.socketPath,
            "-H", "X-Amz-Target: TrentService.\(op)", "-H", "Content-Type: application/x-amz-json-1.1", "-d", json,
            "-w", "\n%{http_code}", "http://localhost/"])
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        let object = (try? JSONSerialization.jsonObject(with: Data(lines.dropLast().joined(separator: "\n").utf8))) as? [String: Any]
        return (status, object ?? [:])
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run clients as other uids"))
    func threeCallersTheirRightsAndTheirAuditTrail() async throws {
        let daemon = try await DaemonProcess(arguments: ["--socket-group", "65534"])
        defer { daemon.removeState() }
        #expect(chmod(daemon.stateDirectory, 0o711) == 0)
        let policy = """
            {"Version":"2012-10-17","Statement":[
              {"Sid":"root","Effect":"Allow","Principal":{"Unix":{"Uid":[0]}},"Action":"kms:*"},
              {"Sid":"encryptor","Effect":"Allow","Principal":{"Unix":{"Uid":[2001]}},"Action":["kms:Encrypt","kms:GenerateDataKey*"],
               "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}},
              {"Sid":"decryptor","Effect":"Allow","Principal":{"Unix":{"Uid":[2002]}},"Action":"kms:Decrypt"}]}
            """
        let key = try daemon.callJSON("CreateKey", ["Policy": policy]).1["KeyMetadata"] as! [String: Any]
        let keyID = key["KeyId"] as! String
        let plaintext = Data(Self.secret.utf8).base64EncodedString()
        let acme = ["tenant": "acme"]

        let (s1, encrypted) = try await call(as: 2001, daemon, "Encrypt", ["KeyId": keyID, "Plaintext": plaintext, "EncryptionContext": acme])
        #expect(s1 == 200, "\(encrypted)")
        let ciphertext = encrypted["CiphertextBlob"] as? String ?? ""
        let (s2, e2) = try await call(as: 2001, daemon, "Encrypt", ["KeyId": keyID, "Plaintext": plaintext, "EncryptionContext": ["tenant": "evil"]])
        #expect(s2 == 400 && e2["__type"] as? String == "AccessDeniedException")
        let (s3, dataKey) = try await call(as: 2001, daemon, "GenerateDataKey", ["KeyId": keyID, "KeySpec": "AES_256", "EncryptionContext": acme])
        #expect(s3 == 200)
        let (s4, e4) = try await call(as: 2001, daemon, "Decrypt", ["CiphertextBlob": ciphertext, "EncryptionContext": acme])
        #expect(s4 == 400 && e4["__type"] as? String == "AccessDeniedException")

        let (s5, decrypted) = try await call(as: 2002, daemon, "Decrypt", ["CiphertextBlob": ciphertext, "EncryptionContext": acme])
        #expect(s5 == 200 && decrypted["Plaintext"] as? String == plaintext)
        let (s6, e6) = try await call(as: 2002, daemon, "Encrypt", ["KeyId": keyID, "Plaintext": plaintext, "EncryptionContext": acme])
        #expect(s6 == 400 && e6["__type"] as? String == "AccessDeniedException")

        for op in ["Encrypt", "Decrypt", "ListKeys"] {
            let body: [String: Any] = op == "Encrypt" ? ["KeyId": keyID, "Plaintext": plaintext]
                : op == "Decrypt" ? ["CiphertextBlob": ciphertext, "EncryptionContext": acme] : [:]
            let (status, error) = try await call(as: 2003, daemon, op, body)
            #expect(status == 400 && error["__type"] as? String == "AccessDeniedException", "\(op) as 2003")
        }
        // The audit key's fingerprint, from the daemon rather than the state directory.
        let (_, statusJSON) = try await DaemonProcess.run(try DaemonProcess.cli(), ["status", "--socket", daemon.socketPath])
        let fingerprint = try #require(((try? JSONSerialization.jsonObject(with: Data(statusJSON.utf8))) as? [String: Any])?[
            "audit_key_fingerprint"] as? String, "\(statusJSON)")
        #expect(fingerprint.hasPrefix("SHA256:") && fingerprint.count == 71)
        #expect(try await daemon.stop() == 0)

        // Every one of those calls is in the audit log with its uid and outcome.
        let events = try auditEvents(daemon.stateDirectory + "/audit").filter { $0["type"] as? String == "event" }
        func outcomes(_ uid: Int) -> [String] {
            events.filter { ($0["principal"] as? [String: Any])?["uid"] as? Int == uid }
                .map { "\($0["operation"] as? String ?? "?"):\($0["outcome"] as? String ?? "?")" }
        }
        #expect(outcomes(2001) == ["Encrypt:allowed", "Encrypt:denied", "GenerateDataKey:allowed", "Decrypt:denied"])
        #expect(outcomes(2002) == ["Decrypt:allowed", "Encrypt:denied"])
        #expect(outcomes(2003) == ["Encrypt:denied", "Decrypt:denied", "ListKeys:denied"])
        let denied = events.first { ($0["principal"] as? [String: Any])?["uid"] as? Int == 2003 }
        #expect(denied?["error"] as? String == "AccessDeniedException" && denied?["key_id"] as? String == keyID)
        let allowed = events.first { ($0["principal"] as? [String: Any])?["uid"] as? Int == 2002 }
        #expect(allowed?["key_version"] as? Int == 1 && (allowed?["encryption_context"] as? [String: String]) == acme)

        // The chain and its signed checkpoints verify offline.
        let (status, report) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "verify", daemon.stateDirectory + "/audit", "--public-key", daemon.stateDirectory + "/audit-public-key.pem",
            "--require-signed", "--key-fingerprint", fingerprint])
        #expect(status == 0, "\(report)")
        #expect(report.contains("intact"))
        #expect(report.contains("checked: seq 1 to "), "\(report)")
        #expect(report.contains("audit key: \(fingerprint) (pinned)"), "\(report)")

        // No plaintext, data key or PIN in any log: the audit files and the daemon's own output.
        let pin = try String(contentsOfFile: daemon.stateDirectory + "/user-pin", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let logs = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory + "/audit")
            .map { try String(contentsOfFile: daemon.stateDirectory + "/audit/" + $0, encoding: .utf8) }
            .joined() + daemon.stderrText()
        let dataKeyText = dataKey["Plaintext"] as? String ?? "<none>"
        for needle in [Self.secret, plaintext, dataKeyText, pin] {
            #expect(!logs.contains(needle), "a secret reached a log")
        }

        // Tampering is caught and the line named.
        let copy = daemon.stateDirectory + "/audit-copy"
        try FileManager.default.copyItem(atPath: daemon.stateDirectory + "/audit", toPath: copy)
        var lines = try String(contentsOfFile: copy + "/audit.log", encoding: .utf8).split(separator: "\n").map(String.init)
        lines[2] = lines[2].replacingOccurrences(of: "\"uid\":2003", with: "\"uid\":2004")
            .replacingOccurrences(of: "\"denied\"", with: "\"allowed\"")
        if lines[2] == (try String(contentsOfFile: copy + "/audit.log", encoding: .utf8).split(separator: "\n").map(String.init))[2] {
            lines[2] = lines[2].replacingOccurrences(of: "\"seq\"", with: "\"seq\" ")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: copy + "/audit.log", atomically: true, encoding: .utf8)
        let (badStatus, badReport) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "verify", copy, "--public-key", daemon.stateDirectory + "/audit-public-key.pem"])
        #expect(badStatus == 1, "\(badReport)")
        #expect(badReport.contains("TAMPERED") && badReport.contains("audit.log:3"), "\(badReport)")
    }

    /// A caller in more supplementary groups than the first `SO_PEERGROUPS`
    /// buffer holds (64) is still denied by a Deny on its last group. Before,
    /// ERANGE turned into "no groups": 64 groups were denied, 65 decrypted.
    @Test(.enabled(if: getuid() == 0, "needs root to run clients with chosen groups"), arguments: [64, 65, 300])
    func aGroupDenyHoldsHoweverManyGroupsTheCallerHas(_ count: Int) async throws {
        let daemon = try await DaemonProcess(arguments: ["--socket-group", "65534"])
        defer { daemon.removeState() }
        #expect(chmod(daemon.stateDirectory, 0o711) == 0)
        let groups = (0..<count).map { 40_000 + $0 }
        let denied = groups.last!
        let policy = """
            {"Version":"2012-10-17","Statement":[
              {"Sid":"root","Effect":"Allow","Principal":{"Unix":{"Uid":[0]}},"Action":"kms:*"},
              {"Sid":"app","Effect":"Allow","Principal":{"Unix":{"Uid":[2001]}},"Action":["kms:Encrypt","kms:Decrypt"]},
              {"Sid":"quarantine","Effect":"Deny","Principal":{"Unix":{"Gid":[\(denied)]}},"Action":"kms:*"}]}
            """
        let keyID = try daemon.callJSON("CreateKey", ["Policy": policy]).1["KeyMetadata"].flatMap { $0 as? [String: Any] }?["KeyId"] as? String
        let plaintext = Data(Self.secret.utf8).base64EncodedString()
        let json = String(decoding: try JSONSerialization.data(withJSONObject: ["KeyId": keyID ?? "", "Plaintext": plaintext]), as: UTF8.self)
        let socketPath = daemon.socketPath
        let output = Mutex("")
        let errors = await onThreads(1) { _ in
            let (_, text) = try DaemonProcess.run("/usr/bin/setpriv", [
                "--reuid=2001", "--regid=65534", "--groups=" + groups.map(String.init).joined(separator: ","),
                "/usr/bin/curl", "-s", "--unix-socket", socketPath,
                "-H", "X-Amz-Target: TrentService.Encrypt", "-H", "Content-Type: application/x-amz-json-1.1", "-d", json,
                "-w", "\n%{http_code}", "http://localhost/"])
            output.withLock { $0 = text }
        }
        #expect(errors.compactMap { $0 }.isEmpty, "\(errors)")
        let out = output.withLock { $0 }
        #expect(out.hasSuffix("\n400"), "\(out)")
        #expect(out.contains("AccessDeniedException"), "\(out)")
        #expect(!out.contains("CiphertextBlob"), "\(out)")
    }

    @Test func anUnwritableAuditLogRefusesEveryRequestAndPerformsNone() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let broken = try await DaemonProcess(stateDirectory: state, socketPath: state + "/p11kms.sock",
                                             arguments: ["--dev", "--state-dir", state],
                                             environment: ["P11KMS_AUDIT_FILE": "/dev/full"])
        let (status, error) = try broken.callJSON("CreateKey", ["Description": "must not exist"])
        #expect(status == 500 && error["__type"] as? String == "KMSInternalException", "\(error)")
        let health = try broken.client().get("/health")
        #expect(health.status == 503 && health.json["audit_writable"] as? Bool == false)
        #expect(try await broken.stop() == 0)

        let healthy = try await DaemonProcess(stateDirectory: state)
        let keys = try healthy.callJSON("ListKeys", [:]).1["Keys"] as? [Any]
        #expect(keys?.isEmpty == true, "the refused CreateKey created nothing")
        #expect(try await healthy.stop() == 0)
    }
}

@Suite("Sealed metadata, end to end")
struct SealedMetadataDaemonTests {
    @Test func aPolicyRowEditedWithSqliteIsRefusedReportedAndAudited() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let first = try await DaemonProcess(stateDirectory: state)
        let victim = try MetadataRollbackDaemonTests.createKey(first, apartFrom: [])
        let bystander = try MetadataRollbackDaemonTests.createKey(first, apartFrom: [victim])
        #expect(try await first.stop() == 0)

        let grantAll = #"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}]}"#
        let (rc, _) = try await DaemonProcess.run("/usr/bin/sqlite3", [
            state + "/metadata.sqlite", "UPDATE keys SET policy = '\(grantAll)' WHERE key_id = '\(victim)';"])
        #expect(rc == 0)

        let second = try await DaemonProcess(stateDirectory: state)
        let (status, error) = try second.callJSON("Encrypt", ["KeyId": victim, "Plaintext": Data("x".utf8).base64EncodedString()])
        #expect(status == 400 && error["__type"] as? String == "KMSInvalidStateException", "\(error)")
        #expect((error["message"] as? String)?.contains("integrity") == true)
        let (ok, _) = try second.callJSON("Encrypt", ["KeyId": bystander, "Plaintext": Data("x".utf8).base64EncodedString()])
        #expect(ok == 200, "other keys keep working")
        let health = try second.client().get("/health")
        #expect(health.status == 503)
        #expect((health.json["metadata_tampered"] as? [String: String])?[victim] != nil, "\(health.json)")
        #expect(try await second.stop() == 0)
        let audit = try String(contentsOfFile: state + "/audit/audit.log", encoding: .utf8)
        #expect(audit.split(separator: "\n").contains { $0.contains("MetadataIntegrity") && $0.contains(victim) })
    }
}
