import DaemonTestSupport
import Foundation
import SoftHSMTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Daemon lifecycle and callers", .serialized)
struct LifecycleTests {
    @Test func socketIsGroupOnlyAndStateIsPrivate() async throws {
        try await withDaemon { d in
            var st = stat()
            #expect(lstat(d.socketPath, &st) == 0)
            #expect(st.st_mode & S_IFMT == S_IFSOCK && st.st_mode & 0o777 == 0o660)
            for file in ["user-pin", "so-pin", "metadata.sqlite"] {
                #expect(stat(d.stateDirectory + "/" + file, &st) == 0 && st.st_mode & 0o077 == 0, "\(file) is owner-only")
            }
            // A second daemon on the same state refuses to steal the live socket.
            let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            let (secondStatus, _) = try await DaemonProcess.run(try DaemonProcess.binary(), ["--dev", "--state-dir", d.stateDirectory],
                                                                directory: checkout)
            #expect(secondStatus != 0)
            #expect(try d.call("ListKeys").status == 200)
        }
    }

    @Test func sigtermDrainsRequestsInFlightAndKeysSurviveARestart() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        // A drain deadline far past the work, so every request finishes (the
        // deadline's own cancellation is PipelineTests' subject).
        let daemon = try await DaemonProcess(stateDirectory: state, arguments: ["--drain-timeout", "300"])
        let existing = try daemon.callJSON("CreateKey", [:]).1["KeyMetadata"] as! [String: Any]
        let ciphertext = try daemon.callJSON("Encrypt", ["KeyId": existing["KeyId"]!, "Plaintext": Data("kept".utf8).base64EncodedString()])
            .1["CiphertextBlob"] as! String

        // 50 slow requests (RSA key generation) in flight, each on its own connection.
        var clients: [HTTPClient] = []
        for _ in 0..<50 {
            // 50 RSA generations on 4 sessions can take a minute on a loaded machine.
            let c = try HTTPClient(socketPath: daemon.socketPath, receiveTimeout: 300)
            try c.send(HTTPClient.request("CreateKey", #"{"KeySpec":"RSA_2048","KeyUsage":"SIGN_VERIFY"}"#))
            clients.append(c)
        }
        try await Task.sleep(for: .milliseconds(200))
        daemon.signal(SIGTERM)
        var completed = 0
        for c in clients where (try? c.readResponse())?.status == 200 { completed += 1 }
        #expect(completed == 50, "every request in flight completes")
        #expect(try await daemon.waitForExit(timeout: 300) == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))

        let restarted = try await DaemonProcess(stateDirectory: state)
        let keys = try restarted.callJSON("ListKeys", ["Limit": 100]).1["Keys"] as? [Any]
        #expect(keys?.count == 51)
        let (status, plain) = try restarted.callJSON("Decrypt", ["CiphertextBlob": ciphertext])
        #expect(status == 200 && plain["Plaintext"] as? String == Data("kept".utf8).base64EncodedString())
        #expect(try await restarted.stop() == 0)
    }

    @Test func productionConfigurationFile() async throws {
        // A dev run makes the token, its PIN files and the domain key...
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let dev = try await DaemonProcess(stateDirectory: state)
        let key = try dev.callJSON("CreateKey", ["Description": "made in dev mode"]).1["KeyMetadata"] as! [String: Any]
        #expect(try await dev.stop() == 0)
        // ...then the daemon starts from a config file, as in production.
        let config = """
            state_directory = "\(state)"
            log_level = "warning"
            [hsm]
            module = "/usr/lib/softhsm/libsofthsm2.so"
            token_label = "p11kms-dev"
            pin_file = "\(state)/user-pin"
            pool_size = 2
            [keys]
            storage = "wrapped"
            [server]
            socket = "\(state)/prod.sock"
            [arn]
            region = "eu-west-9"
            account = "123456789012"
            """
        try config.write(toFile: state + "/p11kmsd.toml", atomically: true, encoding: .utf8)
        let production = try await DaemonProcess(
            stateDirectory: state, socketPath: state + "/prod.sock", arguments: ["--config", state + "/p11kmsd.toml"],
            environment: ["SOFTHSM2_CONF": state + "/softhsm2.conf"])
        let described = try production.callJSON("DescribeKey", ["KeyId": key["KeyId"]!]).1["KeyMetadata"] as? [String: Any]
        #expect(described?["Description"] as? String == "made in dev mode")
        #expect(described?["Arn"] as? String == "arn:aws:kms:eu-west-9:123456789012:key/\(key["KeyId"]!)")
        #expect(try await production.stop() == 0)

        // A PIN file others can read is refused at start-up, naming the fix.
        #expect(chmod(state + "/user-pin", 0o644) == 0)
        let refused = try await ChildProcess.run(try DaemonProcess.binary(), ["--config", state + "/p11kmsd.toml"],
                                           environment: ProcessInfo.processInfo.environment.merging(["SOFTHSM2_CONF": state + "/softhsm2.conf"]) { $1 })
        #expect(refused.status != 0)
        #expect(refused.errors.contains("chmod 600"), "\(refused.errors)")
    }

    @Test func tokenSetupPreparesABareTokenForProduction() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let cli = try DaemonProcess.cli()
        // A token with PINs but none of the daemon's objects.
        let (made, _) = try await DaemonProcess.run(cli, ["token", "self-test", "--state-dir", state])
        #expect(made == 0)
        let setup = ["token", "setup", "--state-dir", state, "--token-label", "p11kms-dev", "--pin-file", state + "/user-pin",
                     "--audit-public-key", state + "/audit.pem"]
        let (first, created) = try await DaemonProcess.run(cli, setup)
        #expect(first == 0 && created.components(separatedBy: "created ").count - 1 == 3, "\(created)")
        let (second, present) = try await DaemonProcess.run(cli, setup)
        #expect(second == 0 && present.components(separatedBy: "present ").count - 1 == 3, "idempotent: \(present)")
        let (exported, pem) = try await DaemonProcess.run(cli, ["audit", "export-public-key", "--state-dir", state, "--token-label", "p11kms-dev"])
        let written = try String(contentsOfFile: state + "/audit.pem", encoding: .utf8)
        #expect(exported == 0 && pem == written)

        try """
            state_directory = "\(state)"
            [hsm]
            token_label = "p11kms-dev"
            pin_file = "\(state)/user-pin"
            [server]
            socket = "\(state)/prod.sock"
            [access]
            admins = ["uid:\(getuid())"]
            """.write(toFile: state + "/p11kmsd.toml", atomically: true, encoding: .utf8)
        let daemon = try await DaemonProcess(stateDirectory: state, socketPath: state + "/prod.sock",
                                             arguments: ["--config", state + "/p11kmsd.toml"],
                                             environment: ["SOFTHSM2_CONF": state + "/softhsm2.conf"])
        let key = (try daemon.callJSON("CreateKey", [:]).1["KeyMetadata"] as? [String: Any])?["KeyId"] as? String
        #expect(key != nil)
        let encrypted = try daemon.callJSON("Encrypt", ["KeyId": key ?? "", "Plaintext": "aGk="]).0
        #expect(encrypted == 200)
        #expect(try await daemon.stop() == 0)
        let (verified, report) = try await DaemonProcess.run(cli, ["audit", "verify", state + "/audit", "--public-key", state + "/audit.pem"])
        #expect(verified == 0, "\(report)")
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run a client as another uid"))
    func callerWithAnotherUIDIsRefused() async throws {
        // The socket is given to group nogroup so uid 65534 can reach it at all,
        // and the state directory is made traversable; the daemon itself must refuse.
        try await withDaemon(arguments: ["--socket-group", "65534"]) { d in
            #expect(chmod(d.stateDirectory, 0o711) == 0)
            let text = try await ChildProcess.run("/usr/bin/setpriv", [
                "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/curl", "-s",
                "--unix-socket", d.socketPath, "-H", "X-Amz-Target: TrentService.ListKeys",
                "-H", "Content-Type: application/x-amz-json-1.1", "-d", "{}", "-w", "\n%{http_code}",
                "http://localhost/"]).output
            let lines = text.split(separator: "\n")
            #expect(lines.last == "400", "\(text)")
            let body = try JSONSerialization.jsonObject(with: Data(lines.first!.utf8)) as? [String: Any]
            #expect(body?["__type"] as? String == "AccessDeniedException")
            #expect((body?["message"] as? String)?.contains("uid 65534") == true)
            // Root (this process) is still served.
            #expect(try d.call("ListKeys").status == 200)
        }
    }
}
