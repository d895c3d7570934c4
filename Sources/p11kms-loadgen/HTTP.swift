import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One keep-alive HTTP/1.1 connection over a Unix socket, used by one thread.
/// Deliberately minimal: requests are prebuilt bytes, and of a response only
/// the status line and Content-Length are parsed (the body is kept for the
/// few callers that need it).
final class Connection {
    let fd: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0

    init(socketPath: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoadError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw LoadError("socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        // Signals interrupt blocking socket calls here (SO_RCVTIMEO makes
        // recv never restart, signal(7)), so each is retried on EINTR.
        var rc: Int32
        repeat {
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        } while rc != 0 && errno == EINTR
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw LoadError("connect \(socketPath): \(String(cString: strerror(e)))")
        }
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
        buffer = [UInt8](repeating: 0, count: 1 << 16)
    }

    deinit { Glibc.close(fd) }

    static func request(target: String, body: String) -> [UInt8] {
        Array(("POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService.\(target)\r\n"
            + "Content-Type: application/x-amz-json-1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw LoadError("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    private func fill() throws {
        if start == end {
            start = 0
            end = 0
        } else if end == buffer.count {
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            } else {
                buffer += [UInt8](repeating: 0, count: buffer.count)
            }
        }
        var n: Int
        repeat {
            n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + end, $0.count - end, 0) }
        } while n < 0 && errno == EINTR
        guard n > 0 else { throw LoadError(n == 0 ? "connection closed by the daemon" : "recv: \(String(cString: strerror(errno)))") }
        end += n
    }

    /// Reads one response; returns its status, and its body when asked.
    func readResponse(keepBody: Bool) throws -> (status: Int, body: [UInt8]) {
        // Find the end of the headers.
        var scan = start
        var headerEnd = -1
        while headerEnd < 0 {
            while scan + 3 < end {
                if buffer[scan] == 13 && buffer[scan + 1] == 10 && buffer[scan + 2] == 13 && buffer[scan + 3] == 10 {
                    headerEnd = scan
                    break
                }
                scan += 1
            }
            if headerEnd < 0 {
                let offset = scan - start
                try fill()
                scan = start + offset
            }
        }
        // "HTTP/1.1 200 ..."
        guard headerEnd - start >= 12 else { throw LoadError("short status line") }
        let status = Int(buffer[start + 9] - 48) * 100 + Int(buffer[start + 10] - 48) * 10 + Int(buffer[start + 11] - 48)
        let length = contentLength(from: start, to: headerEnd)
        let bodyStart = headerEnd + 4
        let bodyOffset = bodyStart - start
        while end - start < bodyOffset + length { try fill() }
        let bodyFrom = start + bodyOffset
        let body = keepBody ? Array(buffer[bodyFrom..<bodyFrom + length]) : []
        start = bodyFrom + length
        return (status, body)
    }

    private func contentLength(from: Int, to: Int) -> Int {
        let name = Array("content-length:".utf8)
        var i = from
        while i < to {
            // at the start of a line
            if i == from || (buffer[i - 1] == 10) {
                var match = true
                for (j, c) in name.enumerated() where i + j >= to || (buffer[i + j] | 0x20) != c {
                    match = false
                    break
                }
                if match {
                    var k = i + name.count
                    while k < to && buffer[k] == 32 { k += 1 }
                    var value = 0
                    while k < to && buffer[k] >= 48 && buffer[k] <= 57 {
                        value = value * 10 + Int(buffer[k] - 48)
                        k += 1
                    }
                    return value
                }
            }
            i += 1
        }
        return 0
    }

    /// One request whose JSON answer is needed (setup, not measured).
    func call(_ target: String, _ body: String) throws -> [String: Any] {
        try send(Self.request(target: target, body: body))
        let (status, bytes) = try readResponse(keepBody: true)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        guard status == 200 else {
            throw LoadError("\(target) failed with HTTP \(status): \(String(decoding: bytes, as: UTF8.self))")
        }
        return json
    }
}

func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A small fast generator for picking keys (not for anything secret).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs `body(index)` on `count` OS threads and waits for all of them. The
/// load generator is synchronous: the wait blocks its main thread, never
/// Swift's cooperative pool (nothing here is async).
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchSemaphore(value: 0)
    for i in 0..<count {
        let thread = Thread {
            body(i)
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { done.wait() }
}

/// State shared by threads that is only ever touched under its lock.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
