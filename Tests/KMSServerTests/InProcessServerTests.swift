import Foundation
import KMSCore
import KMSModel
@testable import KMSServer
import KMSTokenSetup
import Logging
import NIOCore
import NIOPosix
import PKCS11
import SoftHSMTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

// MARK: - A raw HTTP/1.1 client over a Unix socket

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs blocking socket I/O on a thread of its own, never on the Swift
/// concurrency pool (which the server under test needs to make progress).
func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `sockaddr_un` for `path`; throws if it does not fit.
func unixAddress(_ path: String) throws -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        throw TestFailure("socket path too long: \(path)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    return address
}

struct RawResponse: Sendable {
    var status: Int
    /// Header names lowercased.
    var headers: [String: String]
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { jsonObject(body) }
    var errorType: String? { json["__type"] as? String }
}

/// One client connection, used by one test at a time: sends exactly the
/// bytes it is given and reads responses by `Content-Length`.
final class RawConnection: @unchecked Sendable {
    let fd: Int32
    private var pending: [UInt8] = []

    init(socketPath: String, receiveTimeoutSeconds: Int = 20) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = try unixAddress(socketPath)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { BlockingSocket.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw TestFailure("connect \(socketPath): \(String(cString: strerror(e)))")
        }
        var tv = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    static func requestBytes(method: String, path: String, headers: [(String, String)], body: Data) -> [UInt8] {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: localhost"]
        if method != "GET" || !body.isEmpty { lines.append("Content-Length: \(body.count)") }
        lines += headers.map { "\($0.0): \($0.1)" }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + Array(body)
    }

    func request(method: String, path: String, headers: [(String, String)] = [], body: Data = Data()) async throws -> RawResponse {
        let bytes = Self.requestBytes(method: method, path: path, headers: headers, body: body)
        return try await offThread {
            try self.sendBlocking(bytes)
            return try self.readResponseBlocking()
        }
    }

    /// `POST /` with the AWS JSON 1.1 headers.
    func operation(_ name: String, _ body: [String: Any] = [:]) async throws -> RawResponse {
        let data = try JSONSerialization.data(withJSONObject: body)
        return try await request(method: "POST", path: "/", headers: [
            ("X-Amz-Target", "TrentService.\(name)"), ("Content-Type", "application/x-amz-json-1.1"),
        ], body: data)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await offThread { try self.sendBlocking(bytes) }
    }

    func readResponse() async throws -> RawResponse {
        try await offThread { try self.readResponseBlocking() }
    }

    /// True once the server closes the connection (within the receive timeout).
    func waitForClose() async throws -> Bool {
        try await offThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = BlockingSocket.recv(self.fd, &buffer)
                if n == 0 { return true }
                if n < 0 { return errno == ECONNRESET }
            }
        }
    }

    private func sendBlocking(_ bytes: [UInt8]) throws {
        if let failure = BlockingSocket.sendAll(fd, bytes) {
            throw TestFailure("send: \(failure == 0 ? "the peer took no more" : String(cString: strerror(failure)))")
        }
    }

    private func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = BlockingSocket.recv(fd, &buffer)
        guard n > 0 else { throw TestFailure(n == 0 ? "connection closed" : "recv: \(String(cString: strerror(errno)))") }
        pending += buffer.prefix(n)
    }

    private func readResponseBlocking() throws -> RawResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        var searchFrom = 0
        while headerEnd == nil {
            if pending.count >= 4, let r = (searchFrom...(pending.count - 4)).first(where: { pending[$0..<$0 + 4].elementsEqual(separator) }) {
                headerEnd = r
            } else {
                searchFrom = max(0, pending.count - 3)
                try fill()
            }
        }
        let head = String(decoding: pending[..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = head[0].split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw TestFailure("bad status line: \(head[0])")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        guard let length = Int(headers["content-length"] ?? "") else { throw TestFailure("no Content-Length: \(head)") }
        let bodyStart = headerEnd! + 4
        while pending.count < bodyStart + length { try fill() }
        let body = Data(pending[bodyStart..<bodyStart + length])
        pending.removeFirst(bodyStart + length)
        return RawResponse(status: status, headers: headers, body: body)
    }
}

// MARK: - A server on a real engine

/// A fresh directory with a short path (socket paths are limited to 107 bytes).
func makeShortTempDirectory() throws -> String {
    let path = "/tmp/p11kms-" + String(UInt32.random(in: .min ... .max), radix: 16, uppercase: false)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                            attributes: [.posixPermissions: 0o700])
    return path
}

/// Whether `run()` has returned, and how.
final class RunState: Sendable {
    private let state = Mutex<Result<Void, any Error>?>(nil)
    func finish(_ result: Result<Void, any Error>) { state.withLock { $0 = result } }
    var result: Result<Void, any Error>? { state.withLock { $0 } }

    /// Polls until `run()` has returned; false on timeout.
    func wait(seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while result == nil {
            if ContinuousClock.now > deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}

struct ServerFixture {
    let token: TestToken
    let pool: SessionPool
    let engine: KMSEngine
    let server: KMSServer
    let directory: String
    let socketPath: String
    let stateDirectory: String
    let runState: RunState

    static func start(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> ServerFixture {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let setup = try token.openUserSession()
        try TokenSetup.ensureDomainKey(setup)
        try TokenSetup.ensureAuditKey(setup)
        try setup.close()
        let directory = try makeShortTempDirectory()
        let stateDirectory = directory + "/state"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: false)
        let pool = try token.makePool(maxSessions: 4)
        let store = try SQLiteMetadataStore(path: directory + "/metadata.sqlite")
        // The test process (its uid) may create keys; keys then follow their policies.
        var engineConfiguration = KMSConfiguration()
        engineConfiguration.accessControl = AccessControl(keyCreators: PrincipalSet(uids: [getuid()]))
        let engine = try await KMSEngine(pool: pool, store: store, configuration: engineConfiguration)

        var configuration = ServerConfiguration(socketPath: directory + "/s.sock")
        configuration.stateDirectory = stateDirectory
        configuration.idleTimeout = .seconds(15)
        configuration.requestTimeout = .seconds(5)
        configure(&configuration)
        let audit = try await AuditLog(configuration: AuditLog.Configuration(directory: directory + "/audit"),
                                       signer: try await HSMAuditSigner(pool: pool))
        let metrics = ServerMetrics()
        let service = KMSService(engine: engine, audit: audit,
                                 configuration: .init(maxConcurrentRequests: configuration.maxConcurrentRequests,
                                                      maxRequestsPerCaller: configuration.maxRequestsPerCaller),
                                 metrics: metrics)
        let server = KMSServer(service: service, configuration: configuration, metrics: metrics,
                               logger: Logger(label: "p11kms.test", factory: { _ in SwiftLogNoOpLogHandler() }))

        let runState = RunState()
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        Task {
            do {
                try await server.run(onListening: { readyContinuation.yield() })
                runState.finish(.success(()))
            } catch {
                runState.finish(.failure(error))
            }
            readyContinuation.finish()
        }
        for await _ in ready { break }
        if case .failure(let error) = runState.result { throw error }
        return ServerFixture(token: token, pool: pool, engine: engine, server: server, directory: directory,
                             socketPath: configuration.socketPath, stateDirectory: stateDirectory, runState: runState)
    }

    func connect() throws -> RawConnection { try RawConnection(socketPath: socketPath) }

    /// One request on a connection of its own.
    func operation(_ name: String, _ body: [String: Any] = [:]) async throws -> RawResponse {
        try await connect().operation(name, body)
    }

    func get(_ path: String) async throws -> RawResponse {
        try await connect().request(method: "GET", path: path)
    }

    func stop() async {
        server.shutdown()
        if !(await runState.wait(seconds: 15)) { Issue.record("run() did not return after shutdown()") }
        try? await server.service.audit.close()
        try? await pool.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` against a started server, stopping it afterwards.
func withServer(configure: (inout ServerConfiguration) -> Void = { _ in },
                _ body: (ServerFixture) async throws -> Void) async throws {
    let fixture = try await ServerFixture.start(configure: configure)
    do {
        try await body(fixture)
    } catch {
        await fixture.stop()
        throw error
    }
    await fixture.stop()
}

// MARK: - Tests

@Suite("KMSServer in process, on SoftHSM2")
struct InProcessServerTests {
    @Test("the socket is mode 0660; a second server on a live socket is refused and the first keeps serving")
    func socketFile() async throws {
        try await withServer { f in
            var st = stat()
            #expect(lstat(f.socketPath, &st) == 0)
            #expect(st.st_mode & S_IFMT == S_IFSOCK)
            #expect(st.st_mode & 0o7777 == 0o660, "mode \(String(st.st_mode & 0o7777, radix: 8))")

            #expect(UnixSocketPath.isListening(f.socketPath))
            #expect(throws: UnixSocketPath.Error.self) { try UnixSocketPath.prepare(f.socketPath) }
            do {
                try UnixSocketPath.prepare(f.socketPath)
            } catch {
                #expect(String(describing: error).contains("listening"), "\(error)")
            }

            let second = KMSServer(service: f.server.service, configuration: f.server.configuration, metrics: ServerMetrics(),
                                   logger: Logger(label: "second", factory: { _ in SwiftLogNoOpLogHandler() }))
            await #expect(throws: UnixSocketPath.Error.self) { try await second.run() }
            #expect(lstat(f.socketPath, &st) == 0, "the live socket must not be removed")
            let health = try await f.get("/health")
            #expect(health.status == 200)
        }
    }

    @Test("CreateKey, Encrypt and Decrypt round trip through the socket")
    func roundTrip() async throws {
        try await withServer { f in
            let connection = try f.connect()
            let created = try await connection.operation("CreateKey", ["Description": "round trip"])
            #expect(created.status == 200, "\(created.text)")
            #expect(created.headers["content-type"] == "application/x-amz-json-1.1")
            let createdID = try #require(created.headers["x-amzn-requestid"])
            #expect(!createdID.isEmpty)
            let metadata = try #require(created.json["KeyMetadata"] as? [String: Any], "\(created.text)")
            let keyID = try #require(metadata["KeyId"] as? String)
            #expect(metadata["KeyState"] as? String == "Enabled")
            #expect(metadata["Description"] as? String == "round trip")
            #expect(metadata["CreationDate"] is NSNumber)
            #expect(metadata["AWSAccountId"] as? String == "000000000000")

            // Same (keep-alive) connection for the next request.
            let plaintext = Data("the quick brown fox".utf8)
            let context = ["Tenant": "acme", "purpose": "test"]
            let encrypted = try await connection.operation("Encrypt", [
                "KeyId": keyID, "Plaintext": plaintext.base64EncodedString(), "EncryptionContext": context,
            ])
            #expect(encrypted.status == 200, "\(encrypted.text)")
            #expect(encrypted.headers["x-amzn-requestid"] != nil)
            #expect(encrypted.headers["x-amzn-requestid"] != createdID)
            let blob = try #require(encrypted.json["CiphertextBlob"] as? String)
            #expect(Data(base64Encoded: blob) != nil)
            #expect((encrypted.json["KeyId"] as? String)?.hasSuffix(keyID) == true)

            let decrypted = try await f.operation("Decrypt", ["CiphertextBlob": blob, "EncryptionContext": context])
            #expect(decrypted.status == 200, "\(decrypted.text)")
            #expect(decrypted.headers["x-amzn-requestid"] != nil)
            #expect(decrypted.json["Plaintext"] as? String == plaintext.base64EncodedString())
            #expect((decrypted.json["KeyId"] as? String)?.hasSuffix(keyID) == true)

            // Context keys are not case-mapped on the way in: a changed case is another context.
            let wrongCase = try await f.operation("Decrypt", [
                "CiphertextBlob": blob, "EncryptionContext": ["tenant": "acme", "purpose": "test"],
            ])
            #expect(wrongCase.status == 400)
            #expect(wrongCase.errorType == "InvalidCiphertextException")
            #expect(wrongCase.headers["x-amzn-requestid"] != nil)
            #expect(Set(wrongCase.json.keys) == ["__type", "message"])
        }
    }

    @Test("malformed requests get a 4xx and the server keeps serving")
    func malformed() async throws {
        try await withServer { f in
            func post(_ headers: [(String, String)], _ body: String) async throws -> RawResponse {
                try await f.connect().request(method: "POST", path: "/", headers: headers, body: Data(body.utf8))
            }
            let json = ("Content-Type", "application/x-amz-json-1.1")
            let notJSON = try await post([("X-Amz-Target", "TrentService.ListKeys"), json], "{nope")
            #expect(notJSON.status == 400)
            #expect(notJSON.errorType == "SerializationException")

            let noTarget = try await post([json], "{}")
            #expect(noTarget.status == 400)
            #expect(noTarget.errorType == "UnknownOperationException")

            let unknown = try await post([("X-Amz-Target", "TrentService.LaunchMissiles"), json], "{}")
            #expect(unknown.errorType == "UnknownOperationException")

            let noContentType = try await post([("X-Amz-Target", "TrentService.ListKeys")], "{}")
            #expect(noContentType.status == 400)
            #expect(noContentType.errorType == "SerializationException")

            let badEnum = try await post([("X-Amz-Target", "TrentService.CreateKey"), json], #"{"KeySpec":"NOPE"}"#)
            #expect(badEnum.status == 400)
            #expect(badEnum.errorType == "ValidationException")
            #expect((badEnum.json["message"] as? String)?.contains("KeySpec") == true)

            #expect(try await f.get("/").status == 405)
            #expect(try await f.get("/nowhere").status == 404)

            // Declared too large: refused from the head alone, then closed.
            let big = try f.connect()
            try await big.send(Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \(70 * 1024)\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Type: application/x-amz-json-1.1\r\n\r\n".utf8))
            let tooLarge = try await big.readResponse()
            #expect(tooLarge.status == 413)

            let list = try await f.operation("ListKeys")
            #expect(list.status == 200, "\(list.text)")
            #expect(list.json["Keys"] is [Any])
        }
    }

    @Test("GET /health follows the token's login state and recovers with the pool")
    func healthLogin() async throws {
        try await withServer { f in
            let key = try #require(try await f.operation("CreateKey").json["KeyMetadata"] as? [String: Any])
            let keyID = try #require(key["KeyId"] as? String)

            let ok = try await f.get("/health")
            #expect(ok.status == 200, "\(ok.text)")
            #expect(ok.text.contains(#""status":"ok""#), "\(ok.text)")
            #expect(ok.json["logged_in"] as? Bool == true)
            #expect(ok.json["token_present"] as? Bool == true)
            #expect(ok.json["store_writable"] as? Bool == true)
            #expect(ok.json["state_directory_writable"] as? Bool == true)
            #expect(ok.headers["content-type"] == "application/json")

            // A lost login that can be restored is not a broken pool: health
            // logs in again itself.
            try f.token.token.slot.closeAllSessions()
            let healed = try await f.get("/health")
            #expect(healed.status == 200 && healed.json["logged_in"] as? Bool == true, "\(healed.text)")

            // A pool that cannot log in again is: change the user PIN behind
            // the daemon's back, then drop every session.
            // (Login belongs to the whole process: the security officer can log
            // in only once every session, the pool's too, is closed.)
            try f.token.token.slot.closeAllSessions()
            try setUserPIN(f.token, "changed-behind-its-back")
            let down = try await f.get("/health")
            #expect(down.status == 503, "\(down.text)")
            #expect(down.json["logged_in"] as? Bool == false, "\(down.text)")
            #expect(down.json["status"] as? String == "degraded")
            #expect(down.json["token_present"] as? Bool == true)
            let refused = try await f.operation("Encrypt", ["KeyId": keyID, "Plaintext": Data("x".utf8).base64EncodedString()])
            #expect(refused.status == 500, "operations fail while the HSM login is lost: \(refused.text)")

            // The PIN is put back: health and operations recover.
            try setUserPIN(f.token, f.token.userPIN)
            let up = try await f.get("/health")
            #expect(up.status == 200, "\(up.text)")
            #expect(up.json["logged_in"] as? Bool == true)
            let encrypted = try await f.operation("Encrypt", ["KeyId": keyID, "Plaintext": Data("x".utf8).base64EncodedString()])
            #expect(encrypted.status == 200, "\(encrypted.text)")
        }
    }

    /// The security officer sets the user PIN in a session of its own.
    func setUserPIN(_ token: TestToken, _ pin: String) throws {
        let session = try token.token.openSession()
        defer { try? session.close() }
        try session.login(.securityOfficer, pin: PIN(token.soPIN))
        try session.initUserPIN(PIN(pin))
        try session.logout()
    }

    @Test("GET /health reports an unwritable state directory")
    func healthStateDirectory() async throws {
        try await withServer { f in
            #expect(try await f.get("/health").status == 200)
            let away = f.stateDirectory + ".away"
            #expect(rename(f.stateDirectory, away) == 0)
            let down = try await f.get("/health")
            #expect(down.status == 503, "\(down.text)")
            #expect(down.json["state_directory_writable"] as? Bool == false, "\(down.text)")
            #expect(down.json["logged_in"] as? Bool == true)
            #expect(rename(away, f.stateDirectory) == 0)
            let up = try await f.get("/health")
            #expect(up.status == 200, "\(up.text)")
            #expect(up.json["state_directory_writable"] as? Bool == true)
            // The probe leaves nothing behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: f.stateDirectory).isEmpty)
        }
    }

    @Test("GET /metrics is refused to a caller who is neither an admin nor a configured metrics reader")
    func metricsAreForAdmins() async throws {
        try await withServer { f in
            let refused = try await f.get("/metrics")
            #expect(refused.status == 403, "\(refused.text)")
            #expect(refused.errorType == "AccessDeniedException", "\(refused.text)")
            #expect(!refused.text.contains("p11kms_requests_total"))
        }
    }

    @Test("GET /metrics counts requests by operation and outcome")
    func metrics() async throws {
        try await withServer(configure: { $0.metricsReaders = PrincipalSet(uids: [getuid()]) }) { f in
            let key = try #require(try await f.operation("CreateKey").json["KeyMetadata"] as? [String: Any])
            let keyID = try #require(key["KeyId"] as? String)
            for _ in 0..<2 {
                let r = try await f.operation("Encrypt", ["KeyId": keyID, "Plaintext": Data("m".utf8).base64EncodedString()])
                #expect(r.status == 200, "\(r.text)")
            }
            let missing = try await f.operation("Encrypt", ["KeyId": "alias/does-not-exist", "Plaintext": "bQ=="])
            #expect(missing.errorType == "NotFoundException", "\(missing.text)")
            let unknown = try await f.operation("Nope")
            #expect(unknown.errorType == "UnknownOperationException")

            let metrics = try await f.get("/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
            let lines = metrics.text.split(separator: "\n").map(String.init)
            func value(_ series: String) -> String? {
                lines.first(where: { $0.hasPrefix(series + " ") })?.split(separator: " ").last.map(String.init)
            }
            #expect(value(#"p11kms_requests_total{operation="Encrypt",outcome="success"}"#) == "2", "\(metrics.text)")
            #expect(value(#"p11kms_requests_total{operation="CreateKey",outcome="success"}"#) == "1")
            #expect(value(#"p11kms_requests_total{operation="Encrypt",outcome="NotFoundException"}"#) == "1", "\(metrics.text)")
            #expect(value(#"p11kms_requests_total{operation="unknown",outcome="UnknownOperationException"}"#) == "1")
            #expect(metrics.text.contains("p11kms_request_duration_seconds_bucket"))
            #expect(metrics.text.contains("p11kms_hsm_sessions_max"))
            #expect(metrics.text.contains("p11kms_key_cache_entries"))
        }
    }

    @Test("shutdown() drains idle connections, makes run() return and removes the socket")
    func shutdown() async throws {
        let f = try await ServerFixture.start { $0.idleTimeout = .seconds(60) }
        let idle = try f.connect()
        #expect(try await idle.request(method: "GET", path: "/health").status == 200)
        #expect(f.runState.result == nil)

        f.server.shutdown()
        // Well under the 60 s idle timeout; generous because the whole suite
        // shares two cores and blocking test I/O can starve the task pool.
        #expect(await f.runState.wait(seconds: 30), "run() must return promptly, not after the idle timeout")
        if case .failure(let error) = f.runState.result { Issue.record("run() threw \(error)") }
        #expect(try await idle.waitForClose())
        var st = stat()
        #expect(lstat(f.socketPath, &st) != 0 && errno == ENOENT, "the socket file is removed")
        #expect(throws: (any Error).self) { try f.connect() }
        await f.stop()
    }
}

// MARK: - The socket path, without a server

/// Binds a Unix socket at `path`; listens if asked. Returns the descriptor.
func bindRawSocket(_ path: String, listen shouldListen: Bool) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    var address = try unixAddress(path)
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else {
        Glibc.close(fd)
        throw TestFailure("bind \(path): \(String(cString: strerror(errno)))")
    }
    if shouldListen { listen(fd, 4) }
    return fd
}

@Suite("Unix socket path")
struct UnixSocketPathTests {
    @Test("prepare removes a stale socket, refuses a live one, and leaves anything else alone")
    func prepare() throws {
        let dir = try makeShortTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var st = stat()

        // Nothing there: nothing to do.
        try UnixSocketPath.prepare(dir + "/none.sock")

        // A socket file left behind by a process that is gone.
        let stale = dir + "/stale.sock"
        Glibc.close(try bindRawSocket(stale, listen: true))
        #expect(lstat(stale, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK)
        #expect(!UnixSocketPath.isListening(stale))
        try UnixSocketPath.prepare(stale)
        #expect(lstat(stale, &st) != 0, "the stale socket is removed")

        // Something is listening: refused, left in place.
        let live = dir + "/live.sock"
        let fd = try bindRawSocket(live, listen: true)
        defer { Glibc.close(fd) }
        #expect(throws: UnixSocketPath.Error.self) { try UnixSocketPath.prepare(live) }
        #expect(lstat(live, &st) == 0)

        // A regular file, a directory, a symlink to a stale socket: never deleted.
        let file = dir + "/file.sock"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("keep me".utf8)))
        #expect(throws: UnixSocketPath.Error.self) { try UnixSocketPath.prepare(file) }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me")

        let directory = dir + "/dir.sock"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        #expect(throws: UnixSocketPath.Error.self) { try UnixSocketPath.prepare(directory) }
        #expect(FileManager.default.fileExists(atPath: directory))

        let target = dir + "/target.sock"
        Glibc.close(try bindRawSocket(target, listen: false))
        let link = dir + "/link.sock"
        #expect(symlink(target, link) == 0)
        #expect(throws: UnixSocketPath.Error.self) { try UnixSocketPath.prepare(link) }
        #expect(lstat(link, &st) == 0 && lstat(target, &st) == 0)
    }

    @Test("prepare refuses a regular file with a message naming it")
    func regularFileMessage() throws {
        let dir = try makeShortTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/p11kms.sock"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        do {
            try UnixSocketPath.prepare(file)
            Issue.record("a regular file was accepted")
        } catch {
            #expect(String(describing: error).contains(file))
            #expect(String(describing: error).contains("not a socket"))
        }
    }
}

// MARK: - Peer credentials

@Suite("Peer credentials")
struct PeerCredentialsTests {
    /// Binds a NIO server at `path` and yields each accepted child channel.
    private func listen(_ path: String) async throws -> (any Channel, AsyncStream<any Channel>) {
        let (children, continuation) = AsyncStream<any Channel>.makeStream()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                continuation.yield(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(unixDomainSocketPath: path).get()
        return (server, children)
    }

    private func next(_ children: AsyncStream<any Channel>) async -> (any Channel)? {
        for await child in children { return child }
        return nil
    }

    private func processGroups() -> [UInt32] {
        let n = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(n, 0)))
        let m = getgroups(n, &groups)
        return Array(groups.prefix(Int(max(m, 0)))).sorted()
    }

    private func selfExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test("SO_PEERCRED and SO_PEERGROUPS describe a client in this process")
    func sameProcess() async throws {
        let dir = try makeShortTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (server, children) = try await listen(dir + "/p.sock")
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: dir + "/p.sock").get()
        let child = try #require(await next(children))

        let principal = try await PeerCredentials.principal(of: child)
        #expect(principal.uid == getuid())
        #expect(principal.gid == getgid())
        #expect(principal.pid == getpid())
        #expect(principal.groups == processGroups(), "peer \(principal.groups), process \(processGroups())")
        #expect(principal.executable == selfExecutable())
        #expect(principal.executable != nil)
        #expect(principal.userName == PeerCredentials.userName(getuid()))
        if let primary = PeerCredentials.groupName(getgid()) {
            #expect(principal.groupNames.first == primary)
        }

        try await client.close()
        try await child.closeFuture.get()
        try await server.close()
    }

    @Test("the credentials are the peer's, not ours: a client in another process")
    func otherProcess() async throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else { return }
        let dir = try makeShortTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/p.sock"
        let (server, children) = try await listen(path)

        // The child holds the connection until its stdin closes.
        let stdin = try Spawn.pipe()
        let pid = try Spawn.start(python, ["-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); sys.stdin.read()", path],
                                  environment: nil, directory: nil, stdin: stdin.read, stdout: 1, stderr: 2)
        close(stdin.read)
        let process = SpawnedChild(pid: pid)
        defer { close(stdin.write) }
        let child = try #require(await next(children))
        let principal = try await PeerCredentials.principal(of: child)
        #expect(principal.pid == process.pid)
        #expect(principal.pid != getpid())
        #expect(principal.uid == getuid())
        let realPython = URL(fileURLWithPath: python).resolvingSymlinksInPath().path
        #expect(principal.executable == realPython, "\(String(describing: principal.executable))")

        try? await child.close()
        try await server.close()
    }
}
