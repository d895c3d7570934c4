import DaemonTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The request pipeline under pressure (issue #12): against a real daemon,
/// many connections never wedge or abort it, concurrent changes are never
/// lost, the audit log fails closed, and shutdown drains within its deadline.
@Suite("Request pipeline under pressure", .serialized)
struct PipelineTests {
    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static func createKey(_ d: DaemonProcess, _ extra: [String: Any] = [:]) throws -> String {
        let (status, body) = try d.callJSON("CreateKey", extra)
        guard status == 200, let id = (body["KeyMetadata"] as? [String: Any])?["KeyId"] as? String else {
            throw DaemonError("CreateKey: \(status) \(body)")
        }
        return id
    }

    static func keyState(_ d: DaemonProcess, _ key: String) throws -> String? {
        let (_, body) = try d.callJSON("DescribeKey", ["KeyId": key])
        return (body["KeyMetadata"] as? [String: Any])?["KeyState"] as? String
    }

    // MARK: Storms of connections

    @Test("300 keep-alive connections at once are all served, and the daemon answers /health afterwards")
    func keepAliveStorm() async throws {
        try await withDaemon { d in
            let key = try Self.createKey(d)
            let plaintext = Data("storm".utf8).base64EncodedString()
            let failures = Mutex<[String]>([])
            let results = await onThreads(300) { _ in
                let c = try HTTPClient(socketPath: d.socketPath, receiveTimeout: 60)
                func check(_ r: HTTPClient.Response, _ what: String) {
                    if r.status != 200 { failures.withLock { $0.append("\(what): \(r.status) \(r.errorType ?? "")") } }
                }
                for _ in 0..<5 {
                    let encrypted = try c.operation("Encrypt", Self.json(["KeyId": key, "Plaintext": plaintext]))
                    check(encrypted, "Encrypt")
                    let blob = encrypted.json["CiphertextBlob"] as? String ?? ""
                    let decrypted = try c.operation("Decrypt", Self.json(["CiphertextBlob": blob]))
                    check(decrypted, "Decrypt")
                    if decrypted.json["Plaintext"] as? String != plaintext {
                        failures.withLock { $0.append("Decrypt returned other plaintext") }
                    }
                    check(try c.operation("DescribeKey", Self.json(["KeyId": key])), "DescribeKey")
                    check(try c.operation("ListKeys", "{}"), "ListKeys")
                    check(try c.operation("GenerateRandom", #"{"NumberOfBytes":32}"#), "GenerateRandom")
                }
            }
            let errors = results.compactMap { $0.map { "\($0)" } }
            #expect(errors.isEmpty, "\(errors.count) connections failed, e.g. \(errors.prefix(3))")
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
            // Liveness, not speed: the wedge this guards against was permanent.
            let health = try HTTPClient(socketPath: d.socketPath, receiveTimeout: 2).get("/health")
            #expect(health.status == 200, "\(String(decoding: health.body, as: UTF8.self))")
        }
    }

    @Test("1,100 idle connections on the socket and on TCP: those over the bound are refused cleanly, the daemon lives")
    func idleConnectionFlood() async throws {
        raiseOpenFileLimit()
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0", "--max-connections", "1024"]) { d in
            let port = try #require(d.tcpEndpoint.flatMap { URL(string: $0)?.port })
            for transport in ["unix", "tcp"] {
                var clients: [HTTPClient] = []
                for _ in 0..<1100 {
                    if transport == "unix" {
                        clients.append(try HTTPClient(socketPath: d.socketPath, receiveTimeout: 30))
                    } else {
                        let fd = try #require(connectTCP(port: port), "connect to 127.0.0.1:\(port)")
                        clients.append(HTTPClient(connected: fd, receiveTimeout: 30))
                    }
                }
                // The last ones are over the per-caller bound (3/4 of 1024):
                // a 503 ThrottlingException on plain HTTP, then the close.
                let refused = try clients.last!.readResponse()
                #expect(refused.status == 503 && refused.errorType == "ThrottlingException", "\(transport): \(refused.status)")
                #expect(clients.last!.waitForClose())
                for c in clients { c.close() }
                clients = []
                // Alive, and serving the next request.
                let r = try d.call("GenerateRandom", #"{"NumberOfBytes":8}"#)
                #expect(r.status == 200, "\(transport): the daemon serves after the flood")
            }
            // TCP still answers too (unsigned: refused by name, which proves it is served).
            let fd = try #require(connectTCP(port: port))
            let tcp = HTTPClient(connected: fd, receiveTimeout: 5)
            try tcp.send(HTTPClient.request("ListKeys", "{}"))
            #expect(try tcp.readResponse().errorType == "MissingAuthenticationTokenException")
        }
    }

    @Test("a request stalled halfway through its body is closed after request_timeout_seconds")
    func stalledBodiesAreClosed() async throws {
        try await withDaemon(arguments: ["--request-timeout", "1", "--idle-timeout", "30"]) { d in
            let clients = Clients(try (0..<50).map { _ in try HTTPClient(socketPath: d.socketPath, receiveTimeout: 10) })
            for c in clients.all {
                try c.send("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
                           + "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{\"Li")
            }
            let closed = await onThreads(50) { i in
                guard clients.all[i].waitForClose() else { throw DaemonError("connection \(i) still open") }
            }
            #expect(closed.allSatisfy { $0 == nil }, "\(closed.compactMap { $0 }.count) of 50 stayed open")
            #expect(try d.call("GenerateRandom", #"{"NumberOfBytes":8}"#).status == 200)
        }
    }

    // MARK: No lost updates

    /// A policy letting the test process (root, uid 0) do everything, with
    /// or without a Deny of Encrypt.
    static func policy(denyEncrypt: Bool, round: Int) -> String {
        var statements: [[String: Any]] = [
            ["Sid": "all-\(round)", "Effect": "Allow", "Principal": ["Unix": ["Uid": [0]]], "Action": "kms:*", "Resource": "*"],
        ]
        if denyEncrypt {
            statements.append(["Sid": "deny-\(round)", "Effect": "Deny", "Principal": ["Unix": ["Uid": [0]]],
                               "Action": "kms:Encrypt", "Resource": "*"])
        }
        return Self.json(["Version": "2012-10-17", "Statement": statements])
    }

    /// Floods `flood` on `key` from 8 connections while the test changes the
    /// key's state and policy 50 times, checking each change holds.
    func noChangeIsUndone(flood: @escaping @Sendable (HTTPClient, String, Int) throws -> Void,
                          arguments: [String] = [], scheduleDeletion: Bool = false) async throws {
        try await withDaemon(arguments: arguments) { d in
            let key = try Self.createKey(d)
            let stop = SharedFlag()
            let flooding = Task {
                await onThreads(8) { _ in
                    let c = try HTTPClient(socketPath: d.socketPath)
                    var n = 0
                    while !stop.isSet {
                        try flood(c, key, n)
                        n += 1
                    }
                }
            }
            let plaintext = Data("x".utf8).base64EncodedString()
            let found = Mutex<[String]>([])
            // The rounds block in recv, so they run on a thread, not on Swift's cooperative pool.
            let rounds = await onThreads(1) { _ in
                var undone: [String] = []
                defer { found.withLock { $0 = undone } }
                for round in 0..<50 {
                    if scheduleDeletion {
                        if try d.callJSON("ScheduleKeyDeletion", ["KeyId": key, "PendingWindowInDays": 7]).0 != 200 {
                            undone.append("round \(round): ScheduleKeyDeletion refused")
                        }
                        if try Self.keyState(d, key) != "PendingDeletion" { undone.append("round \(round): ScheduleKeyDeletion") }
                        _ = try d.callJSON("CancelKeyDeletion", ["KeyId": key])
                        if try Self.keyState(d, key) != "Disabled" { undone.append("round \(round): CancelKeyDeletion") }
                    } else {
                        if try d.callJSON("DisableKey", ["KeyId": key]).0 != 200 { undone.append("round \(round): DisableKey refused") }
                        if try Self.keyState(d, key) != "Disabled" { undone.append("round \(round): DisableKey") }
                    }
                    if try d.callJSON("EnableKey", ["KeyId": key]).0 != 200 { undone.append("round \(round): EnableKey refused") }
                    if try Self.keyState(d, key) != "Enabled" { undone.append("round \(round): EnableKey") }

                    let deny = Self.policy(denyEncrypt: true, round: round)
                    if try d.callJSON("PutKeyPolicy", ["KeyId": key, "PolicyName": "default", "Policy": deny]).0 != 200 { undone.append("round \(round): PutKeyPolicy refused") }
                    let got = try d.callJSON("GetKeyPolicy", ["KeyId": key, "PolicyName": "default"]).1["Policy"] as? String
                    if got != deny { undone.append("round \(round): PutKeyPolicy (GetKeyPolicy)") }
                    let refused = try d.callJSON("Encrypt", ["KeyId": key, "Plaintext": plaintext])
                    if refused.1["__type"] as? String != "AccessDeniedException" { undone.append("round \(round): the Deny") }
                    let allow = Self.policy(denyEncrypt: false, round: round)
                    if try d.callJSON("PutKeyPolicy", ["KeyId": key, "PolicyName": "default", "Policy": allow]).0 != 200 { undone.append("round \(round): PutKeyPolicy refused") }
                    if try d.callJSON("Encrypt", ["KeyId": key, "Plaintext": plaintext]).0 != 200 {
                        undone.append("round \(round): lifting the Deny")
                    }
                }
            }
            stop.set()
            let floodErrors = await flooding.value.compactMap { $0 }
            #expect(floodErrors.isEmpty, "\(floodErrors.prefix(3))")
            #expect(rounds.allSatisfy { $0 == nil }, "\(rounds.compactMap { $0 })")
            let undone = found.withLock { $0 }
            #expect(undone.isEmpty, "acknowledged changes undone: \(undone)")
        }
    }

    static func tagResource(_ c: HTTPClient, _ key: String, _ n: Int) throws {
        let r = try c.operation("TagResource", Self.json(["KeyId": key, "Tags": [["TagKey": "k\(n % 10)", "TagValue": "\(n)"]]]))
        // Refused only while the key is pending deletion.
        guard r.status == 200 || r.errorType == "KMSInvalidStateException" else {
            throw DaemonError("TagResource: \(r.status) \(r.errorType ?? ""): \(r.json["message"] as? String ?? "")")
        }
    }

    @Test("TagResource flooded on a key never undoes a DisableKey, EnableKey or PutKeyPolicy")
    func tagFloodLosesNothing() async throws {
        try await noChangeIsUndone(flood: Self.tagResource)
    }

    @Test("RotateKeyOnDemand flooded on a key never undoes a state or policy change")
    func rotationFloodLosesNothing() async throws {
        try await noChangeIsUndone(flood: { c, key, _ in
            let r = try c.operation("RotateKeyOnDemand", Self.json(["KeyId": key]))
            // Refused by name while the key is disabled or its Encrypt... is denied: never a lost connection.
            guard r.status == 200 || ["DisabledException", "AccessDeniedException", "LimitExceededException"]
                    .contains(r.errorType ?? "") else {
                throw DaemonError("RotateKeyOnDemand: \(r.status) \(r.errorType ?? "")")
            }
        })
    }

    @Test("ScheduleKeyDeletion and CancelKeyDeletion hold under a TagResource flood, with the scheduler every 100 ms")
    func deletionAndSchedulerLoseNothing() async throws {
        try await noChangeIsUndone(flood: Self.tagResource, arguments: ["--scheduler-interval", "0.1"], scheduleDeletion: true)
    }

    // MARK: Fail-closed audit

    @Test("with the audit file's size limit hit under 32 decrypting connections, every plaintext is on record")
    func auditFailsClosedForRequestsInFlight() async throws {
        // A file-size limit for the whole daemon: the audit log is the file that grows.
        let d = try await DaemonProcess(wrapper: ["/usr/bin/prlimit", "--fsize=\(1 << 20)", "--"])
        defer { d.removeState() }
        let key = try Self.createKey(d)
        let plaintext = Data("secret".utf8).base64EncodedString()
        let blob = try d.callJSON("Encrypt", ["KeyId": key, "Plaintext": plaintext]).1["CiphertextBlob"] as! String
        let served = Mutex<[String]>([])
        let other = Mutex<[String]>([])
        _ = await onThreads(32) { _ in
            let c = try HTTPClient(socketPath: d.socketPath)
            var failures = 0
            for _ in 0..<2000 where failures < 20 {
                let r = try c.operation("Decrypt", Self.json(["CiphertextBlob": blob]))
                if r.json["Plaintext"] != nil {
                    served.withLock { $0.append(r.headers["x-amzn-requestid"] ?? "?") }
                } else {
                    failures += 1
                    if r.status != 500 || r.errorType != "KMSInternalException" {
                        other.withLock { $0.append("\(r.status) \(r.errorType ?? "")") }
                    }
                }
            }
        }
        _ = try? await d.stop()
        // The line cut short by the size limit is not JSON; every whole line is.
        let log = try String(contentsOfFile: d.stateDirectory + "/audit/audit.log", encoding: .utf8)
        let recorded = Set(log.split(separator: "\n").compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["request_id"] as? String
        })
        let plaintexts = served.withLock { $0 }
        #expect(plaintexts.count > 100, "the log filled only after real load")
        let missing = plaintexts.filter { !recorded.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) of \(plaintexts.count) plaintext responses have no audit line")
        #expect(other.withLock { $0 }.isEmpty, "every refusal is KMSInternalException: \(other.withLock { $0.prefix(3) })")
        #expect(recorded.count >= plaintexts.count)
    }

    // MARK: Crashes and shutdown

    @Test("kill -9 under mixed load, five times: every acknowledged key, ciphertext and state change survives")
    func killNineKeepsWhatWasAcknowledged() async throws {
        let state = DaemonProcess.makeStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        struct Acknowledged: Sendable {
            var keys: [String: String] = [:]           // key → last acknowledged state
            var unacknowledged: [String: String] = [:] // key → a change sent, not answered
            var ciphertexts: [(key: String, blob: String)] = []
        }
        let acknowledged = Mutex(Acknowledged())
        let plaintext = Data("durable".utf8).base64EncodedString()
        for round in 0..<5 {
            let d = try await DaemonProcess(stateDirectory: state)
            let stop = SharedFlag()
            async let load = onThreads(6) { worker in
                let c = try HTTPClient(socketPath: d.socketPath, receiveTimeout: 10)
                var mine: [String] = []
                var n = 0
                while !stop.isSet {
                    n += 1
                    guard let r = try? c.operation("CreateKey", "{}"), r.status == 200,
                          let key = (r.json["KeyMetadata"] as? [String: Any])?["KeyId"] as? String else { return }
                    acknowledged.withLock { $0.keys[key] = "Enabled" }
                    mine.append(key)
                    guard let e = try? c.operation("Encrypt", Self.json(["KeyId": key, "Plaintext": plaintext])), e.status == 200,
                          let blob = e.json["CiphertextBlob"] as? String else { return }
                    acknowledged.withLock { $0.ciphertexts.append((key, blob)) }
                    guard let rotated = try? c.operation("RotateKeyOnDemand", Self.json(["KeyId": key])) else { return }
                    if rotated.status == 200, let e2 = try? c.operation("Encrypt", Self.json(["KeyId": key, "Plaintext": plaintext])),
                       e2.status == 200, let blob2 = e2.json["CiphertextBlob"] as? String {
                        acknowledged.withLock { $0.ciphertexts.append((key, blob2)) }
                    }
                    let change: (String, String, [String: Any])? = switch (worker + n) % 3 {
                    case 0: ("DisableKey", "Disabled", ["KeyId": key])
                    case 1: ("ScheduleKeyDeletion", "PendingDeletion", ["KeyId": key, "PendingWindowInDays": 7])
                    default: nil
                    }
                    if let (operation, state, body) = change {
                        // Until answered, the change may or may not have happened.
                        acknowledged.withLock { $0.unacknowledged[key] = state }
                        guard let r = try? c.operation(operation, Self.json(body)) else { return }
                        acknowledged.withLock { a in
                            a.unacknowledged[key] = nil
                            if r.status == 200 { a.keys[key] = state }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 700...2500)))
            d.signal(SIGKILL)
            stop.set()
            _ = try await d.waitForExit()
            _ = await load

            // Restart on the same state: everything acknowledged is there.
            let check = try await DaemonProcess(stateDirectory: state)
            let facts = acknowledged.withLock { $0 }
            #expect(!facts.keys.isEmpty, "round \(round): the load made keys before the kill")
            // The checks block in recv: on a thread, not on Swift's cooperative pool.
            let seen = Mutex<(states: [String: String], problems: [String])>(([:], []))
            let checked = await onThreads(1) { _ in
                var states: [String: String] = [:]
                var problems: [String] = []
                defer { seen.withLock { $0 = (states, problems) } }
                for (key, expected) in facts.keys {
                    let actual = try Self.keyState(check, key)
                    states[key] = actual
                    let allowed = [expected] + (facts.unacknowledged[key].map { [$0] } ?? [])
                    if actual.map(allowed.contains) != true {
                        problems.append("key \(key) is \(actual ?? "missing"), acknowledged \(expected)")
                    }
                }
                for (key, blob) in facts.ciphertexts where states[key] == "Enabled" {
                    let r = try check.callJSON("Decrypt", ["CiphertextBlob": blob])
                    if r.1["Plaintext"] as? String != plaintext { problems.append("a ciphertext of \(key): \(r.1)") }
                }
            }
            #expect(checked.allSatisfy { $0 == nil }, "round \(round): \(checked.compactMap { $0 })")
            let (states, problems) = seen.withLock { $0 }
            #expect(problems.isEmpty, "round \(round): \(problems.prefix(5))")
            // Keys whose in-flight change did happen are that change's from now on.
            acknowledged.withLock { a in
                for (key, state) in a.unacknowledged where states[key] == state { a.keys[key] = state }
                a.unacknowledged = [:]
            }
            #expect(try await check.stop() == 0)
        }
        let (rc, out) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "audit", "verify", state + "/audit", "--public-key", state + "/audit-public-key.pem"])
        #expect(rc == 0, "audit verify after five crashes: \(out)")
    }

    @Test("SIGTERM with 64 requests in flight: each finishes or fails cleanly, and the daemon exits 0 within the deadline")
    func sigtermDrainsWithinItsDeadline() async throws {
        let d = try await DaemonProcess(arguments: ["--drain-timeout", "1"])
        defer { d.removeState() }
        let answers = Mutex<[String]>([])
        let sent = SharedCounter()
        let load = Task {
            await onThreads(64) { _ in
                let c = try HTTPClient(socketPath: d.socketPath, receiveTimeout: 30)
                try c.send(HTTPClient.request("CreateKey", #"{"KeySpec":"RSA_3072","KeyUsage":"SIGN_VERIFY"}"#))
                sent.add()
                let r = try c.readResponse()
                answers.withLock { $0.append(r.status == 200 ? "ok" : r.errorType ?? "\(r.status)") }
            }
        }
        while sent.value < 64 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(200))
        d.signal(SIGTERM)
        // Bounded, not open-ended: the drain's 1 s plus the HSM finishing the
        // generations already running, well inside this wait.
        let status = try await d.waitForExit(timeout: 20)
        let errors = await load.value.compactMap { $0 }
        #expect(status == 0, "\(d.stderrText())")
        #expect(errors.isEmpty, "every request got an answer: \(errors.prefix(3))")
        let outcomes = answers.withLock { $0 }
        #expect(outcomes.count == 64)
        #expect(Set(outcomes).isSubset(of: ["ok", "KMSInternalException"]), "\(Set(outcomes))")
        #expect(outcomes.contains("KMSInternalException"), "RSA-3072 generation outlasts a 1 s drain, so some are cancelled")
    }
}

/// Raw clients handed to threads, one each: each is used by one thread only.
final class Clients: @unchecked Sendable {
    let all: [HTTPClient]
    init(_ all: [HTTPClient]) { self.all = all }
}
