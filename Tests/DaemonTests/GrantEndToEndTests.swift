import DaemonTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Grants against callers the kernel identifies: made and revoked with the
/// CLI, used by another uid through curl, and recorded with their grant id
/// in the audit log, which still verifies.
@Suite("Grants, end to end")
struct GrantEndToEndTests {
    /// One request as another uid (setpriv), through curl.
    static func call(as uid: UInt32, _ socket: String, _ op: String, _ body: [String: Any]) throws -> (Int, [String: Any]) {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let (_, out) = try DaemonProcess.run("/usr/bin/setpriv", [
            "--reuid=\(uid)", "--regid=65534", "--clear-groups", "/usr/bin/curl", "-s", "--unix-socket", socket,
            "-H", "X-Amz-Target: TrentService.\(op)", "-H", "Content-Type: application/x-amz-json-1.1", "-d", json,
            "-w", "\n%{http_code}", "http://localhost/"])
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let object = (try? JSONSerialization.jsonObject(with: Data(lines.dropLast().joined(separator: "\n").utf8))) as? [String: Any]
        return (Int(lines.last ?? "") ?? 0, object ?? [:])
    }

    static func cli(_ socket: String, _ arguments: [String]) throws -> [String: Any] {
        let (status, out) = try DaemonProcess.run(try DaemonProcess.cli(), arguments + ["--socket", socket], withErrors: true)
        guard status == 0 else { throw DaemonError("p11kms \(arguments.joined(separator: " ")): \(out)") }
        if out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return [:] }
        return (try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]) ?? [:]
    }

    static func ensure(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        if !condition { throw DaemonError(what()) }
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run clients as other uids"))
    func aGrantLetsAnotherUidUseTheKeyUntilRevoked() async throws {
        let daemon = try await DaemonProcess(arguments: ["--socket-group", "65534"])
        defer { daemon.removeState() }
        #expect(chmod(daemon.stateDirectory, 0o711) == 0)
        let socket = daemon.socketPath
        let grantID = Mutex("")
        let errors = await onThreads(1) { _ in
            let keyID = ((try Self.cli(socket, ["create-key"]))["KeyMetadata"] as? [String: Any])?["KeyId"] as? String ?? ""
            let plaintext = Data("granted".utf8).base64EncodedString()
            let encrypt: [String: Any] = ["KeyId": keyID, "Plaintext": plaintext]
            let (denied, _) = try Self.call(as: 2001, socket, "Encrypt", encrypt)
            try Self.ensure(denied == 400, "Encrypt before the grant: \(denied)")

            let created = try Self.cli(socket, ["create-grant", "--key-id", keyID, "--grantee-principal", "unix:uid:2001",
                                                "--operations", "Encrypt", "DescribeKey", "--name", "e2e"])
            let id = created["GrantId"] as? String ?? ""
            let token = created["GrantToken"] as? String ?? ""
            grantID.withLock { $0 = id }
            // Used at once, with and without its token.
            let (s1, r1) = try Self.call(as: 2001, socket, "Encrypt", encrypt.merging(["GrantTokens": [token]]) { a, _ in a })
            try Self.ensure(s1 == 200, "Encrypt with the grant token: \(s1) \(r1)")
            let (s2, _) = try Self.call(as: 2001, socket, "Encrypt", encrypt)
            try Self.ensure(s2 == 200, "Encrypt by grant: \(s2)")
            let (s3, r3) = try Self.call(as: 2001, socket, "Decrypt", ["CiphertextBlob": r1["CiphertextBlob"] ?? ""])
            try Self.ensure(s3 == 400 && r3["__type"] as? String == "AccessDeniedException", "Decrypt is not granted: \(r3)")
            let (s4, _) = try Self.call(as: 2002, socket, "Encrypt", encrypt)
            try Self.ensure(s4 == 400, "another uid: \(s4)")

            let listed = try Self.cli(socket, ["list-grants", "--key-id", keyID])
            let grants = listed["Grants"] as? [[String: Any]] ?? []
            try Self.ensure(grants.count == 1 && grants.first?["GrantId"] as? String == id
                            && grants.first?["GranteePrincipal"] as? String == "unix:uid:2001", "list-grants: \(listed)")
            let dry = try DaemonProcess.run(try DaemonProcess.cli(), ["revoke-grant", "--key-id", keyID, "--grant-id", id,
                                                                       "--dry-run", "--socket", socket], withErrors: true)
            try Self.ensure(dry.0 == 1 && dry.1.contains("DryRunOperationException"), "revoke-grant --dry-run: \(dry)")
            let (s5, _) = try Self.call(as: 2001, socket, "Encrypt", encrypt)
            try Self.ensure(s5 == 200, "still granted after a dry run: \(s5)")

            _ = try Self.cli(socket, ["revoke-grant", "--key-id", keyID, "--grant-id", id])
            let (s6, _) = try Self.call(as: 2001, socket, "Encrypt", encrypt)
            try Self.ensure(s6 == 400, "Encrypt after revoke-grant: \(s6)")
        }
        #expect(errors.allSatisfy { $0 == nil }, "\(errors.compactMap { $0 })")
        #expect(try await daemon.stop() == 0)

        let id = grantID.withLock { $0 }
        let events = try auditEvents(daemon.stateDirectory + "/audit").filter { $0["type"] as? String == "event" }
        func lines(_ operation: String) -> [[String: Any]] { events.filter { $0["operation"] as? String == operation } }
        #expect(lines("CreateGrant").map { $0["grant_id"] as? String } == [id])
        #expect(lines("RevokeGrant").map { "\($0["grant_id"] as? String ?? "-"):\($0["outcome"] as? String ?? "?")" }
                == ["\(id):failed", "\(id):allowed"], "the dry run, then the revocation")
        let encrypts = lines("Encrypt").filter { ($0["principal"] as? [String: Any])?["uid"] as? Int == 2001 }
        #expect(encrypts.map { "\($0["outcome"] as? String ?? "?"):\($0["grant_id"] as? String ?? "-")" }
                == ["denied:-", "allowed:\(id)", "allowed:\(id)", "allowed:\(id)", "denied:-"])
        let (status, report) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "verify", daemon.stateDirectory + "/audit", "--public-key", daemon.stateDirectory + "/audit-public-key.pem"])
        #expect(status == 0 && report.contains("intact"), "\(report)")
    }
}
