import _CryptoExtras
import DaemonTestSupport
import Foundation
import Testing

/// `[[notify]]` through a real daemon started from a config file: a command
/// and a named pipe receive key lifecycle events, a failing command is
/// retried and its failure recorded, and requests go on meanwhile.
@Suite("Notifications")
struct NotificationTests {
    /// Polls `condition` every 100 ms for at most `seconds`.
    private func eventually(_ seconds: Double = 30, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try condition()
    }

    /// A daemon started from a config file, as in production, on a token a dev
    /// run made first (its PIN files and keys): the file is the common head
    /// (token, socket, this uid as admin and key creator) and `tables`.
    private func configuredDaemon(_ state: String, head: String = "", _ tables: String) async throws -> DaemonProcess {
        let dev = try await DaemonProcess(stateDirectory: state)
        #expect(try await dev.stop() == 0)
        try """
            state_directory = "\(state)"
            \(head)
            [hsm]
            token_label = "p11kms-dev"
            pin_file = "\(state)/user-pin"
            pool_size = 2
            [server]
            socket = "\(state)/prod.sock"
            [access]
            admins = ["uid:\(getuid())"]
            allow_create_key = ["uid:\(getuid())"]

            \(tables)
            """.write(toFile: state + "/p11kmsd.toml", atomically: true, encoding: .utf8)
        return try await DaemonProcess(stateDirectory: state, socketPath: state + "/prod.sock",
                                       arguments: ["--config", state + "/p11kmsd.toml"],
                                       environment: ["SOFTHSM2_CONF": state + "/softhsm2.conf"])
    }

    @Test("a command and a pipe receive rotation and disable; a failing command is retried and recorded; requests go on")
    func lifecycleEventsReachTheirTargets() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let received = state + "/received.jsonl"
        // Beside the state directory, which the dev run below makes.
        let fifo = state + "-events.fifo"
        defer { unlink(fifo) }
        #expect(mkfifo(fifo, 0o600) == 0)
        // The reader end is open before any event, as a log shipper's would be.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let daemon = try await configuredDaemon(state, """
            [[notify]]
            command = ["/bin/sh", "-c", "cat >> \(received)"]
            events = ["rotation", "disable"]

            [[notify]]
            command = ["/bin/sh", "-c", "echo mail server down >&2; exit 3"]
            attempts = 2

            [[notify]]
            pipe = "\(fifo)"
            events = ["disable"]
            """)
        let key = try #require((daemon.callJSON("CreateKey", [:]).1["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
        #expect(try daemon.callJSON("RotateKeyOnDemand", ["KeyId": key]).0 == 200)
        #expect(try daemon.callJSON("Encrypt", ["KeyId": key, "Plaintext": "c2VjcmV0", "EncryptionContext": ["tenant": "acme-7"]]).0 == 200)
        #expect(try daemon.callJSON("DisableKey", ["KeyId": key]).0 == 200)

        // The command target got both events, in order, as one JSON object each.
        let lines: () throws -> [[String: Any]] = {
            guard let text = try? String(contentsOfFile: received, encoding: .utf8) else { return [] }
            return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
        #expect(try await eventually { try lines().count == 2 }, "received: \((try? lines()) ?? [])")
        let events = try lines()
        #expect(events.map { $0["kind"] as? String } == ["rotation", "disable"])
        #expect(events.map { $0["operation"] as? String } == ["RotateKeyOnDemand", "DisableKey"])
        let me = "uid:\(getuid())" + (getpwuid(getuid()).map { " (" + String(cString: $0.pointee.pw_name) + ")" } ?? "")
        #expect(events.allSatisfy { $0["key_id"] as? String == key && $0["principal"] as? String == me }, "\(events)")
        #expect(Set(events[0].keys).isSubset(of: ["kind", "time", "operation", "request_id", "key_id", "key_version", "principal", "note"]))
        let raw = try String(contentsOfFile: received, encoding: .utf8)
        #expect(!raw.contains("acme-7") && !raw.contains("c2VjcmV0"), "no context or plaintext in a notification")

        // The pipe target wanted only "disable".
        var buffer = [UInt8](repeating: 0, count: 4096)
        var piped = ""
        #expect(try await eventually {
            let n = read(reader, &buffer, buffer.count)
            if n > 0 { piped += String(decoding: buffer[..<n], as: UTF8.self) }
            return piped.hasSuffix("\n")
        }, "the pipe got its line")
        let pipedEvent = try JSONSerialization.jsonObject(with: Data(piped.utf8)) as? [String: Any]
        #expect(pipedEvent?["kind"] as? String == "disable" && pipedEvent?["key_id"] as? String == key)

        // The failing command: retried (2 attempts, a second apart), then recorded,
        // once per event it was given (rotation and disable).
        let audit = state + "/audit"
        #expect(try await eventually {
            try auditEvents(audit).filter { $0["operation"] as? String == "NotificationFailed" }.count == 2
        })
        let failed = try auditEvents(audit).filter { $0["operation"] as? String == "NotificationFailed" }
        #expect(failed.allSatisfy { ($0["note"] as? String ?? "").contains("not delivered after 2 attempts: exit status 3") },
                "\(failed)")
        let delivered = try auditEvents(audit).filter { $0["operation"] as? String == "NotificationDelivered" }
        #expect(delivered.count == 3, "two to the command, one to the pipe: \(delivered)")

        // Requests were served throughout, and still are.
        #expect(try daemon.callJSON("EnableKey", ["KeyId": key]).0 == 200)
        #expect(try daemon.callJSON("Encrypt", ["KeyId": key, "Plaintext": "aGk="]).0 == 200)
        #expect(try await daemon.stop() == 0)
    }

    @Test("the scheduler records and announces imported material about to expire, then its expiry")
    func schedulerFindingsAreRecordedAndAnnounced() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let received = state + "/received.jsonl"
        let daemon = try await configuredDaemon(state, head: "scheduler_interval_seconds = 1", """
            [[notify]]
            command = ["/bin/sh", "-c", "cat >> \(received)"]
            """)
        let key = try #require((daemon.callJSON("CreateKey", ["Origin": "EXTERNAL"]).1["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
        let params = try daemon.callJSON("GetParametersForImport", ["KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_1",
                                                                     "WrappingKeySpec": "RSA_2048"]).1
        guard let publicKey = (params["PublicKey"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            Issue.record("GetParametersForImport: \(params)")
            return
        }
        let wrappingKey = try _RSA.Encryption.PublicKey(derRepresentation: publicKey)
        let material = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        let encrypted = try wrappingKey.encrypt(material, padding: .PKCS1_OAEP).base64EncodedString()
        let (status, body) = try daemon.callJSON("ImportKeyMaterial", [
            "KeyId": key, "ImportToken": params["ImportToken"]!, "EncryptedKeyMaterial": encrypted,
            "ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": Date().addingTimeInterval(4).timeIntervalSince1970])
        #expect(status == 200, "\(body)")

        let audit = state + "/audit"
        let operations: () throws -> [String] = {
            try auditEvents(audit).filter { $0["key_id"] as? String == key }.compactMap { $0["operation"] as? String }
        }
        #expect(try await eventually { try operations().contains("DeleteExpiredKeyMaterial") }, "\((try? operations()) ?? [])")
        let ops = try operations()
        #expect(ops.filter { $0 == "ImportKeyMaterialExpiring" }.count == 1, "announced once, though found every second: \(ops)")
        #expect(ops.firstIndex(of: "ImportKeyMaterialExpiring")! < ops.firstIndex(of: "DeleteExpiredKeyMaterial")!)
        #expect(try daemon.callJSON("Encrypt", ["KeyId": key, "Plaintext": "aGk="]).1["__type"] as? String == "KMSInvalidStateException")

        #expect(try await eventually {
            (try? String(contentsOfFile: received, encoding: .utf8))?.contains("import-expiry-approaching") == true
        })
        let event = try JSONSerialization.jsonObject(with: Data(try String(contentsOfFile: received, encoding: .utf8)
            .split(separator: "\n").first { $0.contains("import-expiry-approaching") }!.utf8)) as? [String: Any]
        #expect(event?["key_id"] as? String == key && event?["principal"] as? String == "service"
                && event?["operation"] as? String == "ImportKeyMaterialExpiring")
        #expect(try await daemon.stop() == 0)
    }

    @Test("a target still failing when the daemon stops gets one last try, is recorded, and does not hold up the exit")
    func failingTargetDoesNotHoldUpShutdown() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let daemon = try await configuredDaemon(state, """
            [[notify]]
            command = ["/bin/false"]
            attempts = 20
            """)
        let key = try #require((daemon.callJSON("CreateKey", [:]).1["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
        #expect(try daemon.callJSON("DisableKey", ["KeyId": key]).0 == 200)
        try await Task.sleep(for: .seconds(2))  // into the backoff of 20 attempts (minutes in all)
        #expect(try await daemon.stop() == 0)
        let failed = try auditEvents(state + "/audit").filter { $0["operation"] as? String == "NotificationFailed" }
        #expect(failed.count == 1 && (failed.first?["note"] as? String ?? "").contains("(the daemon was stopping)"), "\(failed)")
    }
}
