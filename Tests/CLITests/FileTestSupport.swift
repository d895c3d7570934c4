import DaemonTestSupport
import Foundation
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
func fileRunCLI(_ arguments: [String], stdin: Data? = nil) throws -> FileCLIResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try FileTestBinaries.cli())
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: NSTemporaryDirectory())
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let group = DispatchGroup()
    let box = FileTestBox()
    DispatchQueue.global().async(group: group) {
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
        try? input.fileHandleForWriting.close()
    }
    DispatchQueue.global().async(group: group) {
        box.set(errors.fileHandleForReading.readDataToEndOfFile())
    }
    let out = output.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return FileCLIResult(status: process.terminationStatus, stdout: out, stderr: String(decoding: box.get(), as: UTF8.self))
}

final class FileTestBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
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
