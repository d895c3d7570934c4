import DaemonTestSupport
import Foundation
import SoftHSMTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Where the built `p11kms` is: beside `p11kmsd` (DaemonTestSupport finds it).
enum FileTestBinaries {
    static func cli() throws -> String { try DaemonProcess.cli() }
}

struct FileTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// What a CLI run gave.
struct FileCLIResult {
    var status: Int32
    var stdout: Data
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs `p11kms` with pipes on all three streams, feeding `stdin` and
/// draining stdout and stderr concurrently (so large data cannot deadlock).
func fileRunCLI(_ arguments: [String], stdin: Data? = nil) async throws -> FileCLIResult {
    let r = try await ChildProcess.run(try FileTestBinaries.cli(), arguments, directory: URL(fileURLWithPath: NSTemporaryDirectory()),
                                 input: stdin ?? Data())
    return FileCLIResult(status: r.status, stdout: r.stdout, stderr: r.errors)
}

/// A short fresh directory (Unix socket paths are limited to 107 bytes).
func fileTestDirectory() throws -> String {
    let path = "/tmp/p11kms-f-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                            attributes: [.posixPermissions: 0o700])
    return path
}

/// A real `p11kmsd --dev` on its own state directory (DaemonTestSupport's),
/// stopped and removed at the end.
final class FileTestDaemon: Sendable {
    private let daemon: DaemonProcess
    var stateDirectory: String { daemon.stateDirectory }
    var socketPath: String { daemon.socketPath }

    init() async throws { daemon = try await DaemonProcess() }

    func stop() async {
        _ = try? await daemon.stop()
        daemon.removeState()
    }

    /// CreateKey over the raw socket: a SYMMETRIC_DEFAULT key id.
    func createKey() throws -> String {
        let (status, json) = try daemon.callJSON("CreateKey", ["Description": "cli file tests"])
        guard status == 200, let meta = json["KeyMetadata"] as? [String: Any], let id = meta["KeyId"] as? String else {
            throw FileTestError("CreateKey answered \(status) \(json)")
        }
        return id
    }
}
