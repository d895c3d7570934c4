import Foundation
import KMSCore
import KMSModel
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix-socket connection, as the kernel says:
/// `SO_PEERCRED` (pid, uid, gid) and `SO_PEERGROUPS` (supplementary groups),
/// resolved to names, plus `/proc/<pid>/exe` read at accept time.
package enum PeerCredentials {
    /// `SO_PEERGROUPS` is asked first with room for this many groups, which
    /// covers nearly every caller without a large buffer per connection.
    static let commonGroups = 64

    /// The peer's uid alone, on the channel's event loop (connection admission).
    static func uid(of channel: any Channel) -> EventLoopFuture<UInt32?> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        let cred: EventLoopFuture<PeerCred> = provider.unsafeGetSocketOption(level: .socket, name: soPeerCred)
        return cred.map { Optional($0.uid) }.recover { _ in nil }
    }

    package static func principal(of channel: any Channel) async throws -> Principal {
        guard let provider = channel as? any SocketOptionProvider else {
            throw KMSError(.accessDenied, "The caller's identity cannot be read from this connection.")
        }
        let cred: PeerCred = try await provider.unsafeGetSocketOption(level: .socket, name: soPeerCred).get()
        // Groups that cannot be read are not "no groups": a policy that denies
        // a group must still deny its members, so the caller is refused.
        let groups: [UInt32]
        do {
            groups = try await supplementaryGroups(provider, pid: cred.pid)
        } catch {
            throw KMSError(.accessDenied, "The caller's supplementary groups cannot be read from this connection (\(error)).")
        }
        return Principal(uid: cred.uid, gid: cred.gid, groups: groups, pid: cred.pid,
                         userName: userName(cred.uid), groupNames: ([cred.gid] + groups).compactMap(groupName),
                         executable: executable(pid: cred.pid))
    }

    /// `SO_PEERGROUPS` fills a zeroed buffer with the kernel's group list,
    /// which it keeps sorted ascending. So the real entries are the longest
    /// non-decreasing prefix; the only ambiguity is "no groups" against "just
    /// group 0", which is settled by /proc, and by "no groups" if that fails.
    ///
    /// With more than `commonGroups` groups the kernel answers ERANGE (once,
    /// `try?` turned that into "no groups", which let a caller in 65 groups
    /// escape a Deny on any of them); then it is asked again with room for
    /// NGROUPS_MAX (65,536) groups, and any other failure is thrown.
    private static func supplementaryGroups(_ provider: any SocketOptionProvider, pid: Int32) async throws -> [UInt32] {
        // The buffers become arrays on the event loop (whose threads have full
        // stacks), so only an array reaches the task.
        func read<Buffer: Sendable>(_: Buffer.Type) async throws -> [UInt32] {
            try await provider.unsafeGetSocketOption(level: .socket, name: soPeerGroups).map { (buffer: Buffer) in
                withUnsafeBytes(of: buffer) { Array($0.bindMemory(to: UInt32.self)) }
            }.get()
        }
        let all: [UInt32]
        do {
            all = try await read(GroupBuffer.self)
        } catch let error as IOError where error.errnoCode == ERANGE {
            all = try await read(AllGroupsBuffer.self)
        }
        var groups: [UInt32] = []
        for g in all {
            if let last = groups.last, g < last { break }
            if g == 0 && !groups.isEmpty { break }
            groups.append(g)
        }
        if groups == [0] || groups.isEmpty {
            return procGroups(pid: pid).contains(0) ? [0] : []
        }
        return groups
    }

    /// The `Groups:` line of /proc/<pid>/status.
    private static func procGroups(pid: Int32) -> [UInt32] {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) else { return [] }
        return line.dropFirst("Groups:".count).split(separator: " ").compactMap { UInt32($0.trimmingCharacters(in: .whitespaces)) }
    }

    static func userName(_ uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: pwd.pw_name)
    }

    static func groupName(_ gid: UInt32) -> String? {
        var grp = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrgid_r(gid, &grp, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: grp.gr_name)
    }

    static func executable(pid: Int32) -> String? {
        guard pid > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// `struct ucred` (Glibc exposes it only under _GNU_SOURCE).
struct PeerCred {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}

/// Linux's `SO_PEERCRED` and `SO_PEERGROUPS` (asm-generic/socket.h).
let soPeerCred = NIOBSDSocket.Option(rawValue: 17)
let soPeerGroups = NIOBSDSocket.Option(rawValue: 59)

/// Room for NGROUPS_MAX gids (256 KiB, heap-allocated by NIO), asked for
/// only when `GroupBuffer` is too small.
typealias AllGroupsBuffer = InlineArray<65536, UInt32>

/// 64 gids, the buffer `SO_PEERGROUPS` writes into first.
typealias GroupBuffer = (
    UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
    UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
    UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
    UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32
)
