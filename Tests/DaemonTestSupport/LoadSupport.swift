import Foundation
import SoftHSMTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body(i)` for i in 0..<count, each on a thread of its own (the raw
/// client blocks in recv, which must not happen on Swift's cooperative
/// pool), and returns once all have finished, with each one's error.
public func onThreads(_ count: Int, stackSize: Int = 256 << 10,
                      _ body: @escaping @Sendable (Int) throws -> Void) async -> [(any Error)?] {
    let results = Mutex<[(any Error)?]>(Array(repeating: nil, count: count))
    let left = Mutex(count)
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        for i in 0..<count {
            let thread = Thread {
                do { try body(i) } catch { results.withLock { $0[i] = error } }
                let last = left.withLock { n -> Bool in
                    n -= 1
                    return n == 0
                }
                if last { done.resume() }
            }
            thread.stackSize = stackSize
            thread.start()
        }
    }
    return results.withLock { $0 }
}

/// Raises this process's open-file limit to its hard limit (tests that
/// hold a thousand connections need more than the usual 1024).
public func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}

/// A plain TCP connection to `127.0.0.1:port`, or nil if connect fails.
public func connectTCP(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { BlockingSocket.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// A flag and a counter threads and tasks can share (an `Atomic` itself
/// cannot be captured by an escaping closure).
public final class SharedCounter: Sendable {
    private let atomic = Atomic<Int>(0)
    public init() {}
    @discardableResult public func add(_ n: Int = 1) -> Int { atomic.add(n, ordering: .relaxed).newValue }
    public var value: Int { atomic.load(ordering: .relaxed) }
}

public final class SharedFlag: Sendable {
    private let atomic = Atomic<Bool>(false)
    public init() {}
    public func set() { atomic.store(true, ordering: .relaxed) }
    public var isSet: Bool { atomic.load(ordering: .relaxed) }
}
