import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether `./.p11kms-dev/p11kms.sock`, the dev-mode socket in the working
/// directory, may be used without being named.
///
/// The working directory may be shared (`/tmp`, a project checkout others
/// write to). A socket planted there by someone else would receive the
/// plaintext of `p11kms encrypt`, and `encrypt-file` would use a data key of
/// the impostor's choosing. So the socket is taken only when the caller owns
/// both it and its directory, the directory (or the directory a symlink of
/// the caller's names) is one no one else can write to, and the socket is a
/// socket that is not world-writable.
///
/// The socket's group-write bit is allowed, unlike the first wording
/// (#14): the daemon makes every socket 0660 by design, and a member of that
/// group can connect to the socket but cannot replace it without write access
/// to the directory, which is what is checked.
public enum DevSocketTrust: Equatable, Sendable {
    case absent
    case trusted
    /// Present but not used; the reason is a sentence for a warning.
    case untrusted(String)

    public static func inspect(_ socketPath: String, uid: uid_t = getuid()) -> DevSocketTrust {
        let directory = (socketPath as NSString).deletingLastPathComponent
        var dir = stat()
        var sock = stat()
        guard lstat(socketPath, &sock) == 0 else { return .absent }
        let dirPath = directory.isEmpty ? "." : directory
        guard lstat(dirPath, &dir) == 0 else { return .absent }
        if (dir.st_mode & S_IFMT) == S_IFLNK {
            // A symlink of the caller's own (to a state directory elsewhere)
            // is as good as the directory it names; one planted by someone
            // else is not.
            guard dir.st_uid == uid else {
                return .untrusted("\(directory) is a symlink that belongs to uid \(dir.st_uid), not to you (uid \(uid))")
            }
            guard stat(dirPath, &dir) == 0 else { return .absent }
        }
        if (dir.st_mode & S_IFMT) != S_IFDIR {
            return .untrusted("\(directory) is not a directory")
        }
        if dir.st_uid != uid {
            return .untrusted("\(directory) belongs to uid \(dir.st_uid), not to you (uid \(uid))")
        }
        if dir.st_mode & 0o022 != 0 {
            return .untrusted("\(directory) is writable by others (mode \(String(dir.st_mode & 0o7777, radix: 8)))")
        }
        if (sock.st_mode & S_IFMT) != S_IFSOCK {
            return .untrusted("\(socketPath) is not a socket")
        }
        if sock.st_uid != uid {
            return .untrusted("\(socketPath) belongs to uid \(sock.st_uid), not to you (uid \(uid))")
        }
        if sock.st_mode & 0o002 != 0 {
            return .untrusted("\(socketPath) is writable by everyone (mode \(String(sock.st_mode & 0o777, radix: 8)))")
        }
        return .trusted
    }
}
