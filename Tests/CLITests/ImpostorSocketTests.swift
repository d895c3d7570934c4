import DaemonTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `p11kms` run from a shared directory where someone else planted
/// `.p11kms-dev/p11kms.sock` must not send that socket anything: before, the
/// impostor received the plaintext of `p11kms encrypt`.
@Suite("The CLI ignores an impostor's dev socket")
struct ImpostorSocketTests {
    @Test func anImpostorSocketInAWorldWritableDirectoryReceivesNothing() async throws {
        let shared = "/tmp/p11kms-shared-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        try FileManager.default.createDirectory(atPath: shared + "/.p11kms-dev", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        #expect(chmod(shared, 0o1777) == 0 && chmod(shared + "/.p11kms-dev", 0o777) == 0)

        let path = shared + "/.p11kms-dev/p11kms.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0 && listen(fd, 8) == 0)
        #expect(chmod(path, 0o777) == 0)
        // As root, make it truly someone else's, as an impostor's would be.
        if getuid() == 0 { #expect(chown(shared + "/.p11kms-dev", 65534, 65534) == 0 && chown(path, 65534, 65534) == 0) }

        var environment = ProcessInfo.processInfo.environment
        environment["P11KMS_SOCKET"] = nil
        let secret = Data("the plaintext an impostor wants".utf8).base64EncodedString()
        let (status, output) = try await DaemonProcess.run(try DaemonProcess.cli(), [
            "encrypt", "--key-id", "alias/app", "--plaintext", secret,
        ], environment: environment, directory: URL(fileURLWithPath: shared), withErrors: true)

        #expect(status != 0, "\(output)")
        #expect(output.contains("warning: not using ./.p11kms-dev/p11kms.sock"), "\(output)")
        // Nothing connected to the impostor: its backlog is empty.
        #expect(fcntl(fd, F_SETFL, O_NONBLOCK) == 0)
        let accepted = accept(fd, nil, nil)
        let acceptErrno = errno
        if accepted >= 0 { close(accepted) }
        #expect(accepted < 0 && (acceptErrno == EAGAIN || acceptErrno == EWOULDBLOCK), "the impostor's socket was connected to")
    }
}
