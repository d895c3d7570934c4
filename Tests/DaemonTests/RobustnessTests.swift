import DaemonTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Bad input never crashes the daemon, hangs it or harms other clients:
/// after each case a normal request on a new connection still succeeds.
@Suite("Bad input and abuse", .serialized)
struct RobustnessTests {
    static let arguments = ["--idle-timeout", "2", "--request-timeout", "2"]

    func stillServes(_ d: DaemonProcess, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try d.call("GenerateRandom", #"{"NumberOfBytes":8}"#)
        #expect(r.status == 200, "daemon still serves", sourceLocation: sourceLocation)
    }

    func expectError(_ d: DaemonProcess, _ raw: String, status: Int, type: String?,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let c = try d.client()
        try c.send(raw)
        let r = try c.readResponse()
        #expect(r.status == status, "\(raw.prefix(80)) → \(r.status) \(String(decoding: r.body, as: UTF8.self))",
                sourceLocation: sourceLocation)
        if let type { #expect(r.errorType == type, sourceLocation: sourceLocation) }
        try stillServes(d, sourceLocation: sourceLocation)
    }

    @Test func malformedRequestsGetClearErrors() async throws {
        try await withDaemon(arguments: Self.arguments) { d in
            typealias C = HTTPClient
            try expectError(d, C.request("ListKeys", #"{"Limit": "#), status: 400, type: "SerializationException")
            try expectError(d, C.request("ListKeys", "[]"), status: 400, type: "SerializationException")
            try expectError(d, C.request("ListKeys", #""a string""#), status: 400, type: "SerializationException")
            try expectError(d, C.request("ListKeys", #"{"Limit": "ten"}"#), status: 400, type: "SerializationException")
            try expectError(d, C.request("GenerateRandom", #"{"NumberOfBytes": 1.5}"#), status: 400, type: "SerializationException")
            let key = try d.callJSON("CreateKey", [:]).1["KeyMetadata"] as! [String: Any]
            try expectError(d, C.request("Encrypt", #"{"KeyId":"\#(key["KeyId"]!)","Plaintext":"!!not base64!!"}"#),
                            status: 400, type: "ValidationException")
            try expectError(d, C.request("NoSuchOperation", "{}"), status: 400, type: "UnknownOperationException")
            try expectError(d, C.request(nil, "{}"), status: 400, type: "UnknownOperationException")
            try expectError(d, C.request("ListKeys", "{}", contentType: "text/plain"), status: 400, type: "SerializationException")
            try expectError(d, C.request("ListKeys", "{}", contentType: nil), status: 400, type: "SerializationException")
            try expectError(d, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", status: 404, type: "UnknownOperationException")
            try expectError(d, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", status: 405, type: nil)
            // Headers far beyond the limit.
            let big = HTTPClient.request("ListKeys", "{}", extraHeaders: ["X-Padding: " + String(repeating: "a", count: 20_000)])
            try expectError(d, big, status: 431, type: nil)
        }
    }

    @Test func garbageThatIsNotHTTPIsRefusedAndClosed() async throws {
        try await withDaemon(arguments: Self.arguments) { d in
            let c = try d.client()
            try c.send("THIS IS NOT HTTP\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 400)
            #expect(c.waitForClose())
            try stillServes(d)
        }
    }

    @Test func oneMebibyteBodyIsRefusedWithoutReadingItAll() async throws {
        try await withDaemon(arguments: Self.arguments) { d in
            let body = #"{"Plaintext":""# + String(repeating: "A", count: 1 << 20) + #""}"#
            let c = try d.client()
            // Declared length over the limit: refused from the head alone.
            try c.send("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.Encrypt\r\n"
                       + "Content-Type: application/x-amz-json-1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 413 && r.errorType == "ValidationException")
            #expect(c.waitForClose())
            // Chunked, with no length up front: refused once the limit is crossed.
            let chunked = try d.client()
            try chunked.send("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.Encrypt\r\n"
                             + "Content-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            var refused = false
            for _ in 0..<20 where !refused {
                do { try chunked.send(String(format: "%x\r\n", 65536) + String(repeating: "A", count: 65536) + "\r\n") }
                catch { refused = true }
                if !refused, let response = try? chunked.readResponseIfAvailable() {
                    #expect(response.status == 413)
                    refused = true
                }
            }
            #expect(refused)
            try stillServes(d)
        }
    }

    @Test func aClientStallingHalfwayThroughItsHeadersIsClosedAndOthersAreServed() async throws {
        try await withDaemon(arguments: Self.arguments) { d in
            let stalled = try d.client()
            try stalled.send("POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Tar")
            // Meanwhile another client is served at once.
            try stillServes(d)
            let start = Date()
            #expect(stalled.waitForClose(), "the stalled connection is closed by the daemon")
            let waited = Date().timeIntervalSince(start)
            #expect(waited < 15, "closed after the timeout, not never (\(waited) s)")
            // A client that sends a head and then stalls in the body is closed too.
            let slowBody = try d.client()
            try slowBody.send("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
                              + "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{")
            #expect(slowBody.waitForClose())
            try stillServes(d)
        }
    }

    @Test func clientsThatDisconnectMidRequestDoNoHarm() async throws {
        try await withDaemon(arguments: Self.arguments) { d in
            for cut in [10, 60, 120] {
                let c = try d.client()
                let request = HTTPClient.request("CreateKey", #"{"Description":"never finished"}"#)
                try c.send(String(request.prefix(cut)))
                c.close()
            }
            // A client that sends a whole slow request and leaves before the answer.
            let c = try d.client()
            try c.send(HTTPClient.request("CreateKey", #"{"KeySpec":"RSA_4096","KeyUsage":"SIGN_VERIFY"}"#))
            c.close()
            try stillServes(d)
        }
    }

    @Test func fiveHundredConnectionsAtOnce() async throws {
        try await withDaemon(arguments: ["--idle-timeout", "30", "--request-timeout", "30"]) { d in
            var clients: [HTTPClient] = []
            for _ in 0..<500 { clients.append(try d.client()) }
            for c in clients { try c.send(HTTPClient.request("GenerateRandom", #"{"NumberOfBytes":16}"#)) }
            var ok = 0
            for c in clients where (try? c.readResponse())?.status == 200 { ok += 1 }
            #expect(ok == 500)
            clients.removeAll()
            try stillServes(d)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withDaemon(arguments: Self.arguments) { d in
            let c = try d.client()
            let batch = (1...5).map { HTTPClient.request("GenerateRandom", #"{"NumberOfBytes":\#($0)}"#) }.joined()
            try c.send(batch)
            for n in 1...5 {
                let r = try c.readResponse()
                #expect(r.status == 200)
                #expect(Data(base64Encoded: r.json["Plaintext"] as? String ?? "")?.count == n, "response \(n) in order")
            }
            // Keep-alive: the same connection serves another request afterwards.
            #expect(try c.operation("ListKeys").status == 200)
        }
    }
}

extension HTTPClient {
    /// A response if one has arrived (non-blocking peek), else nil.
    func readResponseIfAvailable() throws -> Response? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 0) > 0 else { return nil }
        return try readResponse()
    }
}
