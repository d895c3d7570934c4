#if canImport(Glibc)
import Glibc
#endif

/// Blocking socket calls for tests' raw clients, carried on after a signal.
///
/// Why: a socket with `SO_RCVTIMEO` (every raw test client sets one) is never
/// restarted after a signal handler runs, `SA_RESTART` or not (signal(7)), so
/// `recv` fails with EINTR whenever any signal reaches the thread. CI saw
/// "recv: Interrupted system call" and "connect …: Interrupted system call"
/// in tests that had nothing wrong with them. Each function here returns
/// what the call returns, with `errno` as the call left it, EINTR excepted.
public enum BlockingSocket {
    /// `connect(2)`; 0, or -1 with `errno` set. After EINTR a TCP connection
    /// goes on being established in the background (a second `connect` says
    /// EALREADY), so it is waited for with `poll` and read from `SO_ERROR`;
    /// a Unix-socket connect is simply tried again.
    public static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        while true {
            if Glibc.connect(fd, address, length) == 0 { return 0 }
            switch errno {
            case EINTR:
                continue
            case EISCONN:
                return 0
            case EALREADY, EINPROGRESS:
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                while poll(&descriptor, 1, -1) < 0 && errno == EINTR {}
                var failure: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size) == 0 else { return -1 }
                if failure == 0 { return 0 }
                errno = failure
                return -1
            default:
                return -1
            }
        }
    }

    /// `recv(2)` into `buffer`, tried again after EINTR.
    public static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ flags: Int32 = 0) -> Int {
        while true {
            let n = Glibc.recv(fd, buffer.baseAddress, buffer.count, flags)
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    /// `recv(2)` into an array's first `count` bytes (all of it by default).
    public static func recv(_ fd: Int32, _ buffer: inout [UInt8], from offset: Int = 0) -> Int {
        buffer.withUnsafeMutableBytes { recv(fd, UnsafeMutableRawBufferPointer(rebasing: $0[offset...])) }
    }

    /// Sends all of `bytes` (MSG_NOSIGNAL, so a closed peer is an error, not
    /// SIGPIPE); nil when every byte went, or the `errno` it failed with
    /// (0 when the peer stopped taking bytes).
    public static func sendAll(_ fd: Int32, _ bytes: some Collection<UInt8>) -> Int32? {
        let bytes = Array(bytes)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? 0 : errno }
            sent += n
        }
        return nil
    }
}
