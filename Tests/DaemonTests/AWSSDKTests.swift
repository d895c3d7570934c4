import DaemonTestSupport
import Foundation
import SoftHSMTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The TCP listener through AWS's own SDK (boto3) and signer (botocore):
/// existing SDK code works unchanged, broken signatures are refused with
/// AWS's names and audited, access-key policies hold, TLS works, overload
/// answers ThrottlingException. The Python programs are in Tests/aws-sdk.
@Suite("AWS SDKs over TCP")
struct AWSSDKTests {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("aws-sdk")

    struct Credentials {
        var endpoint: String
        var region: String
        var accessKeyID: String
        var secret: String
    }

    /// What `p11kmsd --dev --tcp` wrote into DIR/aws-config.
    static func devCredentials(_ d: DaemonProcess) throws -> Credentials {
        let text = try String(contentsOfFile: d.stateDirectory + "/aws-config", encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        return Credentials(endpoint: values["endpoint_url"]!, region: values["region"]!,
                           accessKeyID: values["aws_access_key_id"]!, secret: values["aws_secret_access_key"]!)
    }

    /// An environment with no AWS setting but these (none of the host's own profiles or keys).
    static func environment(_ c: Credentials, extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }.merging([
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_ENDPOINT_URL_KMS": c.endpoint, "AWS_DEFAULT_REGION": c.region,
            "AWS_ACCESS_KEY_ID": c.accessKeyID, "AWS_SECRET_ACCESS_KEY": c.secret,
        ].merging(extra) { $1 }) { $1 }
    }

    /// Runs a Python program; returns its status and output (stdout, then stderr).
    static func python(_ arguments: [String], environment: [String: String]) async throws -> (Int32, String, String) {
        let r = try await ChildProcess.run("/usr/bin/env", ["python3"] + arguments, environment: environment)
        return (r.status, r.output, r.errors)
    }

    /// One boto3 call as `c`: the response, or the error code.
    static func call(_ c: Credentials, _ operation: String, _ params: [String: Any] = [:],
                     extra: [String: String] = [:]) async throws -> [String: Any] {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: params), as: UTF8.self)
        let (status, out, err) = try await python([scripts.appendingPathComponent("kms_call.py").path, operation, json],
                                            environment: environment(c, extra: extra))
        guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] else {
            throw DaemonError("kms_call.py \(operation) failed: \(out) \(err)")
        }
        return object
    }

    static func events(_ d: DaemonProcess) throws -> [[String: Any]] {
        try auditEvents(d.stateDirectory + "/audit").filter { $0["type"] as? String == "event" }
    }

    @Test func boto3CodeWorksUnchanged() async throws {
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0"]) { d in
            let c = try Self.devCredentials(d)
            #expect(c.endpoint.hasPrefix("http://127.0.0.1:") && d.tcpEndpoint == c.endpoint)
            var st = stat()
            #expect(stat(d.stateDirectory + "/aws-config", &st) == 0 && st.st_mode & 0o777 == 0o600)
            let (status, out, err) = try await Self.python([Self.scripts.appendingPathComponent("boto3_walkthrough.py").path],
                                                     environment: Self.environment(c))
            #expect(status == 0, "\(out)\n\(err)")
            #expect(out.contains(#""ok": true"#) && out.contains("paginator"), "\(out)")
            // Every call is on record under the dev access key, with no Unix identity.
            let events = try Self.events(d)
            let signed = events.filter { ($0["principal"] as? [String: Any])?["access_key_name"] as? String == "dev" }
            #expect(signed.count > 40)
            let principal = signed.first?["principal"] as? [String: Any]
            #expect(principal?["access_key"] as? String == c.accessKeyID && principal?["uid"] == nil)
            #expect((principal?["remote_address"] as? String)?.hasPrefix("127.0.0.1:") == true)
            #expect(Set(signed.compactMap { $0["operation"] as? String }).isSuperset(of: [
                "CreateKey", "Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt", "Sign", "Verify", "GenerateMac", "VerifyMac",
                "GetPublicKey", "CreateAlias", "UpdateAlias", "DeleteAlias", "ListAliases", "TagResource", "UntagResource",
                "ListResourceTags", "EnableKeyRotation", "RotateKeyOnDemand", "ScheduleKeyDeletion", "CancelKeyDeletion", "ListKeys",
            ]))
            // The same keys are there on the Unix socket: one service, two doors.
            #expect(((try d.callJSON("ListKeys", [:]).1["Keys"] as? [Any])?.count ?? 0) >= 7)
        }
    }

    @Test func boto3GrantsWork() async throws {
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0"]) { d in
            let c = try Self.devCredentials(d)
            let (status, out, err) = try await Self.python([Self.scripts.appendingPathComponent("boto3_grants.py").path],
                                                     environment: Self.environment(c))
            #expect(status == 0, "\(out)\n\(err)")
            #expect(out.contains(#""ok": true"#) && out.contains("list_retirable_grants paginator"), "\(out)")
            let grantLines = try Self.events(d).filter { ["CreateGrant", "RetireGrant", "RevokeGrant"].contains($0["operation"] as? String) }
            #expect(grantLines.filter { $0["outcome"] as? String == "allowed" }.allSatisfy { ($0["grant_id"] as? String)?.count == 64 })
        }
    }

    @Test func boto3DerivesSharedSecretsAndReadsLastUsage() async throws {
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0"]) { d in
            let c = try Self.devCredentials(d)
            let (status, out, err) = try await Self.python([Self.scripts.appendingPathComponent("boto3_key_agreement.py").path],
                                                     environment: Self.environment(c))
            #expect(status == 0, "\(out)\n\(err)")
            #expect(out.contains(#""ok": true"#) && out.contains("ECC_NIST_P521") && out.contains("off-curve refused"), "\(out)")
        }
    }

    @Test func boto3ManagesCustomKeyStoresOnASecondToken() async throws {
        let cluster = "cluster-botothreetestaa"
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0", "--extra-token", cluster]) { d in
            let c = try Self.devCredentials(d)
            let pin = try String(contentsOfFile: d.stateDirectory + "/\(cluster).user-pin", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let (status, out, err) = try await Self.python(
                [Self.scripts.appendingPathComponent("boto3_custom_key_stores.py").path],
                environment: Self.environment(c, extra: ["P11KMS_CKS_CLUSTER": cluster, "P11KMS_CKS_PIN": pin]))
            #expect(status == 0, "\(out)\n\(err)")
            #expect(out.contains(#""ok": true"#) && out.contains("delete_custom_key_store refusals"), "\(out)")
            let log = try String(contentsOfFile: d.stateDirectory + "/audit/audit.log", encoding: .utf8)
            #expect(!log.contains(pin), "the PIN is never in the audit log")
            #expect(log.contains("\"operation\":\"ConnectCustomKeyStore\""))
        }
    }

    @Test func boto3SeesEachUnservedOperationRefusedWithAReason() async throws {
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0"]) { d in
            let c = try Self.devCredentials(d)
            let (status, out, err) = try await Self.python([Self.scripts.appendingPathComponent("boto3_refused.py").path],
                                                     environment: Self.environment(c))
            #expect(status == 0, "\(out)\n\(err)")
            #expect(out.contains(#""ok": true"#) && out.contains("create_custom_key_store"), "\(out)")
        }
    }

    @Test func brokenSignaturesAreRefusedByNameAndAudited() async throws {
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0"]) { d in
            let c = try Self.devCredentials(d)
            let (status, out, err) = try await Self.python([Self.scripts.appendingPathComponent("sigv4_refusals.py").path],
                                                     environment: Self.environment(c))
            #expect(status == 0, "\(out)\n\(err)")
            let refused = try Self.events(d).filter { $0["outcome"] as? String == "denied" }
            func refusals(_ name: String) -> [[String: Any]] { refused.filter { $0["error"] as? String == name } }
            // wrong secret, old date, tampered body, tampered target, wrong region
            #expect(refusals("InvalidSignatureException").count == 5)
            #expect(refusals("MissingAuthenticationTokenException").count == 1)
            #expect(refusals("IncompleteSignatureException").count == 1)
            let unknown = refusals("UnrecognizedClientException")
            #expect(unknown.count == 1)
            // The claimed key is recorded, but never as a verified principal.
            let who = unknown.first?["principal"] as? [String: Any]
            #expect(who?["access_key"] as? String == "P11KUNKNOWNUNKNOWN00" && who?["access_key_name"] == nil)
            #expect((who?["remote_address"] as? String)?.hasPrefix("127.0.0.1:") == true)
            // Recorded against the operation the request named (the tampered one named ListAliases).
            #expect(refused.compactMap { $0["operation"] as? String }.sorted() == ["ListAliases"] + Array(repeating: "ListKeys", count: 7))
        }
    }

    @Test func theAWSCLIWorksFromTheDevConfigFile() async throws {
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0"]) { d in
            let env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }.merging([
                "AWS_CONFIG_FILE": d.stateDirectory + "/aws-config", "AWS_PROFILE": "p11kms",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ]) { $1 }
            func aws(_ arguments: [String]) async throws -> (Int32, String) {
                let (status, text) = try await DaemonProcess.run("/usr/bin/env", ["aws", "kms"] + arguments, environment: env,
                                                           withErrors: true)
                return (status, text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let (s1, keyID) = try await aws(["create-key", "--description", "aws cli", "--query", "KeyMetadata.KeyId", "--output", "text"])
            #expect(s1 == 0, "\(keyID)")
            let plain = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
            try Data("hello, aws cli".utf8).write(to: plain)
            defer { try? FileManager.default.removeItem(at: plain) }
            let (s2, blob) = try await aws(["encrypt", "--key-id", keyID, "--plaintext", "fileb://" + plain.path,
                                      "--query", "CiphertextBlob", "--output", "text"])
            #expect(s2 == 0, "\(blob)")
            let sealed = plain.appendingPathExtension("enc")
            try #require(Data(base64Encoded: blob)).write(to: sealed)
            defer { try? FileManager.default.removeItem(at: sealed) }
            let (s3, opened) = try await aws(["decrypt", "--ciphertext-blob", "fileb://" + sealed.path, "--query", "Plaintext", "--output", "text"])
            #expect(s3 == 0 && Data(base64Encoded: opened) == Data("hello, aws cli".utf8), "\(opened)")
            let (s4, listed) = try await aws(["list-keys", "--query", "Keys[].KeyId", "--output", "text"])
            #expect(s4 == 0 && listed.contains(keyID), "\(listed)")
        }
    }

    /// Production configuration: two access keys, TLS on loopback, a key
    /// policy that lets one use the key and denies the other.
    @Test func accessKeyPoliciesOverTLS() async throws {
        // A dev run makes the token, PINs and domain key; the config reuses them.
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let dev = try await DaemonProcess(stateDirectory: state)
        let created = try dev.callJSON("CreateKey", [
            "Description": "for alice-app only",
            "Policy": """
                {"Version":"2012-10-17","Statement":[
                 {"Sid":"admin","Effect":"Allow","Principal":{"Unix":{"Uid":[\(getuid())]}},"Action":"kms:*"},
                 {"Sid":"app","Effect":"Allow","Principal":{"AWS":["alice-app","bob-app"]},"Action":["kms:Encrypt","kms:Decrypt"]},
                 {"Sid":"not bob","Effect":"Deny","Principal":{"AWS":["bob-app"]},"Action":"kms:*"}]}
                """,
        ]).1
        let keyID = try #require((created["KeyMetadata"] as? [String: Any])?["KeyId"] as? String, "\(created)")
        #expect(try await dev.stop() == 0)

        // A self-signed certificate for 127.0.0.1, and a secret file per key.
        let openssl = try await ChildProcess.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", state + "/tls.key", "-out", state + "/tls.crt"])
        try #require(openssl.status == 0, "\(openssl.errors)")
        chmod(state + "/tls.key", 0o600)
        let alice = AWSSDKTests.Credentials(endpoint: "", region: "eu-west-9", accessKeyID: "P11KALICE00000000001",
                                            secret: "alice-secret-alice-secret-alice-secret-1")
        let bob = AWSSDKTests.Credentials(endpoint: "", region: "eu-west-9", accessKeyID: "P11KBOB0000000000001",
                                          secret: "bob-secret-bob-secret-bob-secret-bob-sec")
        for (name, c) in [("alice", alice), ("bob", bob)] {
            #expect(FileManager.default.createFile(atPath: "\(state)/\(name).secret", contents: Data((c.secret + "\n").utf8),
                                                   attributes: [.posixPermissions: 0o600]))
        }
        func config(listen: String, tls: Bool) -> String {
            """
            state_directory = "\(state)"
            log_level = "warning"
            [hsm]
            token_label = "p11kms-dev"
            pin_file = "\(state)/user-pin"
            pool_size = 2
            [server]
            socket = "\(state)/prod.sock"
            [arn]
            region = "eu-west-9"
            account = "123456789012"
            [access]
            admins = ["uid:\(getuid())"]
            allow_create_key = ["access_key:alice-app"]
            [tcp]
            listen = "\(listen)"
            \(tls ? "tls_certificate = \"\(state)/tls.crt\"\ntls_private_key = \"\(state)/tls.key\"" : "")
            [access_keys.alice-app]
            access_key_id = "\(alice.accessKeyID)"
            secret_file = "\(state)/alice.secret"
            [access_keys.bob-app]
            access_key_id = "\(bob.accessKeyID)"
            secret_file = "\(state)/bob.secret"
            """
        }
        let environment = ["SOFTHSM2_CONF": state + "/softhsm2.conf"]

        // Beyond loopback without TLS, the daemon refuses to start and says why.
        try config(listen: "0.0.0.0:0", tls: false).write(toFile: state + "/open.toml", atomically: true, encoding: .utf8)
        let (refusedStatus, refusedOutput) = try await DaemonProcess.run(
            try DaemonProcess.binary(), ["--config", state + "/open.toml"],
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, withErrors: true)
        #expect(refusedStatus == 2 && refusedOutput.contains("needs TLS"), "\(refusedOutput)")

        try config(listen: "127.0.0.1:0", tls: true).write(toFile: state + "/p11kmsd.toml", atomically: true, encoding: .utf8)
        let daemon = try await DaemonProcess(stateDirectory: state, socketPath: state + "/prod.sock",
                                             arguments: ["--config", state + "/p11kmsd.toml"], environment: environment)
        let endpoint = try #require(daemon.tcpEndpoint)
        #expect(endpoint.hasPrefix("https://127.0.0.1:"))
        let tls = ["P11KMS_TEST_CA_BUNDLE": state + "/tls.crt"]
        let aliceAt = AWSSDKTests.Credentials(endpoint: endpoint, region: alice.region, accessKeyID: alice.accessKeyID, secret: alice.secret)
        let bobAt = AWSSDKTests.Credentials(endpoint: endpoint, region: bob.region, accessKeyID: bob.accessKeyID, secret: bob.secret)

        let encrypted = try await Self.call(aliceAt, "encrypt", ["KeyId": keyID, "Plaintext": Data("for alice".utf8).base64EncodedString()],
                                      extra: tls)
        #expect(encrypted["ok"] as? Bool == true, "\(encrypted)")
        let arn = (encrypted["response"] as? [String: Any])?["KeyId"] as? String
        #expect(arn == "arn:aws:kms:eu-west-9:123456789012:key/\(keyID)")
        let blob = (encrypted["response"] as? [String: Any])?["CiphertextBlob"] as? String ?? ""
        let decrypted = try await Self.call(aliceAt, "decrypt", ["CiphertextBlob": blob], extra: tls)
        #expect((decrypted["response"] as? [String: Any])?["Plaintext"] as? String == Data("for alice".utf8).base64EncodedString())
        // Bob is allowed by one statement and denied by another: the Deny wins.
        let bobEncrypt = try await Self.call(bobAt, "encrypt", ["KeyId": keyID, "Plaintext": "eA=="], extra: tls)
        #expect(bobEncrypt["error"] as? String == "AccessDeniedException", "\(bobEncrypt)")
        #expect((bobEncrypt["message"] as? String)?.contains("bob-app") == true, "\(bobEncrypt)")
        await #expect(try Self.call(bobAt, "decrypt", ["CiphertextBlob": blob], extra: tls)["error"] as? String == "AccessDeniedException")
        // Alice may create keys (allow_create_key); a key she creates is hers by default, not Bob's.
        let hers = try await Self.call(aliceAt, "create_key", ["Description": "alice's own"], extra: tls)
        let hersID = try #require(((hers["response"] as? [String: Any])?["KeyMetadata"] as? [String: Any])?["KeyId"] as? String, "\(hers)")
        await #expect(try Self.call(aliceAt, "generate_data_key", ["KeyId": hersID, "KeySpec": "AES_256"], extra: tls)["ok"] as? Bool == true)
        await #expect(try Self.call(bobAt, "generate_data_key", ["KeyId": hersID, "KeySpec": "AES_256"], extra: tls)["error"] as? String
                == "AccessDeniedException")
        await #expect(try Self.call(bobAt, "create_key", [:], extra: tls)["error"] as? String == "AccessDeniedException")
        // Without the certificate in the trust store the client refuses the server: it really is TLS.
        let untrusted = try await Self.python([Self.scripts.appendingPathComponent("kms_call.py").path, "list_keys"],
                                        environment: Self.environment(aliceAt))
        #expect(untrusted.0 != 0 && untrusted.2.contains("SSL"), "\(untrusted)")
        #expect(try await daemon.stop() == 0)

        let events = try auditEvents(state + "/audit").filter { $0["type"] as? String == "event" }
        func trail(_ name: String) -> [String] {
            events.filter { ($0["principal"] as? [String: Any])?["access_key_name"] as? String == name }
                .map { "\($0["operation"] as? String ?? "?"):\($0["outcome"] as? String ?? "?")" }
        }
        #expect(trail("alice-app") == ["Encrypt:allowed", "Decrypt:allowed", "CreateKey:allowed", "GenerateDataKey:allowed"])
        #expect(trail("bob-app") == ["Encrypt:denied", "Decrypt:denied", "GenerateDataKey:denied", "CreateKey:denied"])
    }

    /// The SDK's side of throttling: boto3's standard retry mode backs off
    /// on ThrottlingException and every request of a burst gets through.
    @Test func boto3RetriesThrottledRequests() async throws {
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0", "--max-queued-requests", "0"]) { d in
            let c = try Self.devCredentials(d)
            let (status, out, err) = try await Self.python([Self.scripts.appendingPathComponent("throttled_burst.py").path],
                                                     environment: Self.environment(c))
            #expect(status == 0, "\(out)\n\(err)")
            let result = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Int]
            #expect(result?["created"] == 16, "\(out)")
            #expect((result?["retried"] ?? 0) >= 1, "\(out)")
            let throttled = try Self.events(d).filter { $0["error"] as? String == "ThrottlingException" }
            #expect(!throttled.isEmpty)
            #expect(throttled.allSatisfy { ($0["principal"] as? [String: Any])?["access_key_name"] as? String == "dev" })
        }
    }

    /// More requests than the pool plus its queue bound: the excess is
    /// answered ThrottlingException (which SDKs retry), not left to pile up.
    @Test func overloadIsThrottled() async throws {
        try await withDaemon(arguments: ["--max-queued-requests", "1"]) { d in
            // Dev mode's pool has 4 sessions: at most 5 requests at once.
            let clients = try (0..<24).map { _ in try d.client() }
            for c in clients { try c.send(HTTPClient.request("CreateKey", #"{"KeySpec":"RSA_2048","KeyUsage":"SIGN_VERIFY"}"#)) }
            let answers = try clients.map { try $0.readResponse() }
            let names = answers.map { $0.status == 200 ? "OK" : ($0.json["__type"] as? String ?? "?") }
            #expect(names.filter { $0 == "OK" }.count >= 1, "\(names)")
            #expect(names.filter { $0 == "ThrottlingException" }.count >= 1, "\(names)")
            #expect(names.allSatisfy { $0 == "OK" || $0 == "ThrottlingException" }, "\(names)")
            #expect(answers.filter { $0.json["__type"] as? String == "ThrottlingException" }.allSatisfy { $0.status == 400 })
            // Once the burst is over, requests are served again, and the refusals were recorded.
            #expect(try d.call("ListKeys").status == 200)
            let throttled = try Self.events(d).filter { $0["error"] as? String == "ThrottlingException" }
            #expect(throttled.count == names.filter { $0 == "ThrottlingException" }.count)
        }
    }
}
