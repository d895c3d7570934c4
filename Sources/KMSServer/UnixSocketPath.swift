import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Preparing and securing the socket file.
package enum UnixSocketPath {
    package struct Error: Swift.Error, CustomStringConvertible {
        package let description: String
    }

    /// Makes the path free for binding. A stale socket (nobody listening) is
    /// removed; a live one means another daemon is running, and anything that
    /// is not a socket is left alone — both are errors, never deleted.
    package static func prepare(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return } // nothing there
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw Error(description: "\(path) exists and is not a socket; refusing to replace it")
        }
        if isListening(path) {
            throw Error(description: "another process is listening on \(path); is p11kmsd already running?")
        }
        guard unlink(path) == 0 else {
            throw Error(description: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        // A signal must not make a live socket look stale (and get it
        // unlinked): a Unix-socket connect interrupted is tried again.
        while true {
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if result == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// Mode 0660 and the configured group: only the owner and that group may connect.
    package static func secure(_ path: String, group: String?) throws {
        if let group {
            guard let gid = groupID(group) else { throw Error(description: "unknown socket group \(group)") }
            guard chown(path, uid_t.max, gid) == 0 else {
                throw Error(description: "cannot give \(path) to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(path, 0o660) == 0 else {
            throw Error(description: "cannot set mode 0660 on \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func groupID(_ name: String) -> gid_t? {
        if let numeric = gid_t(name) { return numeric }
        var grp = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &grp, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return grp.gr_gid
    }
}
