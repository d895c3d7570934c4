import Foundation
import SoftHSMTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A deliberately raw HTTP/1.1 client over a Unix socket, so tests can send
/// exactly the bytes they mean, malformed ones included.
public final class HTTPClient {
    public let fd: Int32
    private var pending: [UInt8] = []

    public struct Response {
        public var status: Int
        public var headers: [String: String]
        public var body: Data
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        public var errorType: String? { json["__type"] as? String }
    }

    public init(socketPath: String, receiveTimeout: Int = 30) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socketPath.utf8)) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { BlockingSocket.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw DaemonError("connect \(socketPath): \(String(cString: strerror(e)))")
        }
        var tv = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A client on a socket connected already (TCP, say); it owns `fd`.
    public init(connected fd: Int32, receiveTimeout: Int = 30) {
        self.fd = fd
        var tv = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }
    public func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    public func send(_ bytes: [UInt8]) throws {
        if let failure = BlockingSocket.sendAll(fd, bytes) {
            throw DaemonError("send failed: \(failure == 0 ? "the peer took no more" : String(cString: strerror(failure)))")
        }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public static func request(_ operation: String?, _ body: String, contentType: String? = "application/x-amz-json-1.1",
                        extraHeaders: [String] = []) -> String {
        var lines = ["POST / HTTP/1.1", "Host: localhost", "Content-Length: \(body.utf8.count)"]
        if let operation { lines.append("X-Amz-Target: TrentService.\(operation)") }
        if let contentType { lines.append("Content-Type: \(contentType)") }
        lines += extraHeaders
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + body
    }

    public func operation(_ operation: String, _ body: String = "{}") throws -> Response {
        try send(Self.request(operation, body))
        return try readResponse()
    }

    public func get(_ path: String) throws -> Response {
        try send("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return try readResponse()
    }

    /// Reads bytes until the peer closes or `timeout` passes; true if it closed.
    public func waitForClose() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = BlockingSocket.recv(fd, &buffer)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = BlockingSocket.recv(fd, &buffer)
        guard n > 0 else { throw DaemonError(n == 0 ? "connection closed" : "recv: \(String(cString: strerror(errno)))") }
        pending += buffer.prefix(n)
    }

    public func readResponse() throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if let r = pending.indices.dropLast(3).first(where: { Array(pending[$0..<$0 + 4]) == separator }) {
                headerEnd = r
            } else {
                try fill()
            }
        }
        let head = String(decoding: pending[..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1])!
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = headerEnd! + 4
        while pending.count < bodyStart + length { try fill() }
        let body = Data(pending[bodyStart..<bodyStart + length])
        pending.removeFirst(bodyStart + length)
        return Response(status: status, headers: headers, body: body)
    }
}
