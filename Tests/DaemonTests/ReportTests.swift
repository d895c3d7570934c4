import _CryptoExtras
import DaemonTestSupport
import Foundation
import SoftHSMTestSupport
import Testing

/// `p11kms report`, `report verify` and `key attest` through a dev daemon,
/// and the HTML page in a real browser (Debian's chromium, headless).
@Suite("Compliance report through the daemon")
struct ReportTests {
    @Test("report writes signed JSON and HTML; verify passes it and refuses an edit or another key; attest is signed too")
    func reportVerifyAndAttest() async throws {
        let daemon = try await DaemonProcess()
        defer { daemon.removeState() }
        let state = daemon.stateDirectory
        let cli = try DaemonProcess.cli()
        let env = ProcessInfo.processInfo.environment.merging(["P11KMS_SOCKET": daemon.socketPath]) { $1 }

        let key = try #require((daemon.callJSON("CreateKey", ["Description": "payments <prod> & \"more\""]).1["KeyMetadata"]
            as? [String: Any])?["KeyId"] as? String)
        #expect(try daemon.callJSON("Encrypt", ["KeyId": key, "Plaintext": "aGk="]).0 == 200)
        // Imported material: labelled as such, not faulted.
        let external = try #require((daemon.callJSON("CreateKey", ["Origin": "EXTERNAL"]).1["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
        let params = try daemon.callJSON("GetParametersForImport", ["KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_1",
                                                                     "WrappingKeySpec": "RSA_2048"]).1
        let wrapping = try _RSA.Encryption.PublicKey(derRepresentation: try #require(Data(base64Encoded: params["PublicKey"] as? String ?? "")))
        let material = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        #expect(try daemon.callJSON("ImportKeyMaterial", [
            "KeyId": external, "ImportToken": params["ImportToken"]!, "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            "EncryptedKeyMaterial": try wrapping.encrypt(material, padding: .PKCS1_OAEP).base64EncodedString()]).0 == 200)

        let out = state + "/evidence"
        let (made, said) = try await DaemonProcess.run(cli, ["report", "--output-dir", out], environment: env, withErrors: true)
        #expect(made == 0, "\(said)")
        let client = try daemon.client()
        defer { client.close() }
        let fingerprint = try #require(try client.get("/health").json["audit_key_fingerprint"] as? String)
        #expect(said.contains(fingerprint))

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any]
        let body = try #require(report?["report"] as? [String: Any])
        let keys = try #require(body["keys"] as? [[String: Any]])
        #expect(Set(keys.compactMap { $0["key_id"] as? String }) == [key, external])
        let findings = body["findings"] as? [[String: Any]] ?? []
        #expect(findings.contains { $0["kind"] as? String == "imported-material" && $0["key_id"] as? String == external })
        #expect(!findings.contains { ["extractable-material", "non-local-material", "audit-gap"].contains($0["kind"] as? String ?? "") },
                "\(findings)")
        let ours = try #require(keys.first { $0["key_id"] as? String == key })
        let kek = ours["kek"] as? [String: Any]
        #expect(kek?["never_extractable"] as? Bool == true && kek?["local"] as? Bool == true && kek?["extractable"] as? Bool == false)
        #expect((body["domain_key"] as? [String: Any])?["always_sensitive"] as? Bool == true)
        #expect(body["unwrap_template_enforced"] as? Bool == true)
        // Wrapped mode: the version's own attributes, as sealed when the HSM generated it.
        let generated = ((ours["versions"] as? [[String: Any]])?.first?["generation"]) as? [String: Any]
        #expect(generated?["local"] as? Bool == true && generated?["always_sensitive"] as? Bool == true
                && generated?["sensitive"] as? Bool == true, "\(generated ?? [:])")
        #expect(((ours["usage"] as? [[String: Any]]) ?? []).contains { $0["operation"] as? String == "Encrypt" && $0["count"] as? Int == 1 })
        #expect(((ours["history"] as? [[String: Any]]) ?? []).first?["operation"] as? String == "CreateKey")

        // Offline checks: intact and pinned; an edit, or another key's fingerprint, fails.
        let verify = { (file: String, pin: String?) async throws -> (Int32, String) in
            try await DaemonProcess.run(cli, ["report", "verify", file] + (pin.map { ["--key-fingerprint", $0] } ?? []),
                                        environment: env, withErrors: true)
        }
        let (intact, intactSaid) = try await verify(out + "/report.json", fingerprint)
        #expect(intact == 0 && intactSaid.contains("intact"), "\(intactSaid)")
        var text = try String(contentsOfFile: out + "/report.json", encoding: .utf8)
        text = text.replacingOccurrences(of: "\"imported-material\"", with: "\"imported-materiaL\"")
        try text.write(toFile: state + "/edited.json", atomically: true, encoding: .utf8)
        let (edited, editedSaid) = try await verify(state + "/edited.json", fingerprint)
        #expect(edited == 1 && editedSaid.contains("changed after it was signed"), "\(editedSaid)")
        let other = "SHA256:" + String(repeating: "ab", count: 32)
        let (wrongKey, wrongSaid) = try await verify(out + "/report.json", other)
        #expect(wrongKey == 1 && wrongSaid.contains("not by the expected key"), "\(wrongSaid)")

        // The attestation: one key, signed the same way.
        let (attested, attestation) = try await DaemonProcess.run(cli, ["key", "attest", key], environment: env)
        #expect(attested == 0)
        try attestation.write(toFile: state + "/attest.json", atomically: true, encoding: .utf8)
        let (attestIntact, attestSaid) = try await verify(state + "/attest.json", fingerprint)
        #expect(attestIntact == 0 && attestSaid.contains("attestation of 1 keys"), "\(attestSaid)")

        // Both requests are on record.
        let operations = try auditEvents(state + "/audit").compactMap { $0["operation"] as? String }
        #expect(operations.contains("GenerateComplianceReport") && operations.contains("AttestKey"))

        // The page in a browser: it renders, and its key table lists both keys, the description escaped.
        let chromium = try #require(["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                    "chromium is installed by scripts/bootstrap")
        let browserFlags = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + state + "/chromium"]
        let page = "file://" + out + "/report.html"
        let (dumped, dom) = try await DaemonProcess.run(chromium, browserFlags + ["--dump-dom", page])
        #expect(dumped == 0)
        let table = try #require(dom.range(of: "<table id=\"keys\">").map { String(dom[$0.lowerBound...]) })
        let keyTable = String(table[..<(table.range(of: "</table>")?.lowerBound ?? table.endIndex)])
        #expect(keyTable.contains(key) && keyTable.contains(external))
        #expect(keyTable.contains("payments &lt;prod&gt; &amp; \"more\""), "the description is text, not markup")
        let (shot, _) = try await DaemonProcess.run(chromium, browserFlags + ["--screenshot=" + state + "/report.png",
                                                                              "--window-size=1280,1600", page])
        #expect(shot == 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: state + "/report.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "a real screenshot, \(png.count) bytes")
        #expect(try await daemon.stop() == 0)
    }

    @Test("a caller who is not an admin gets no report")
    func nonAdminIsRefused() async throws {
        // The socket is given to nogroup so uid 65534 can reach it; the daemon must refuse.
        let daemon = try await DaemonProcess(arguments: ["--socket-group", "65534"])
        defer { daemon.removeState() }
        #expect(chmod(daemon.stateDirectory, 0o711) == 0)
        let text = try await ChildProcess.run("/usr/bin/setpriv", [
            "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/curl", "-s", "--unix-socket", daemon.socketPath,
            "-X", "POST", "-d", "{}", "-w", "\n%{http_code}", "http://localhost/admin/report"]).output
        let lines = text.split(separator: "\n")
        #expect(lines.last == "403", "\(text)")
        let body = try JSONSerialization.jsonObject(with: Data(lines.first!.utf8)) as? [String: Any]
        #expect(body?["__type"] as? String == "AccessDeniedException")
        #expect(try await daemon.stop() == 0)
    }
}
