import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Where the built `p11kmsd` and `p11kms` are (beside the test bundle, or .build/debug).
enum FileTestBinaries {
    static func daemon() throws -> String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var candidates: [String] = [
            testBinary.appendingPathComponent("p11kmsd").path,
            testBinary.deletingLastPathComponent().appendingPathComponent("p11kmsd").path,
            checkout.appendingPathComponent(".build/debug/p11kmsd").path,
        ]
        if let explicit = ProcessInfo.processInfo.environment["P11KMSD"] { candidates.insert(explicit, at: 0) }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw FileTestError("p11kmsd not built; looked in \(candidates)")
        }
        return path
    }

    static func cli() throws -> String {
        URL(fileURLWithPath: try daemon()).deletingLastPathComponent().appendingPathComponent("p11kms").path
    }

    static var checkout: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
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

/// A real `p11kmsd --dev` on its own state directory, killed at the end.
final class FileTestDaemon: @unchecked Sendable {
    // @unchecked: only the test that owns it touches the process.
    let stateDirectory: String
    let socketPath: String
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()

    init() async throws {
        stateDirectory = "/tmp/p11kms-fd-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        socketPath = stateDirectory + "/p11kms.sock"
        process.executableURL = URL(fileURLWithPath: try FileTestBinaries.daemon())
        process.arguments = ["--dev", "--state-dir", stateDirectory]
        process.currentDirectoryURL = FileTestBinaries.checkout
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let handle = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(30)
        var seen = Data()
        while Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty {
                if !process.isRunning { throw FileTestError("p11kmsd exited early") }
                try await Task.sleep(for: .milliseconds(20))
                continue
            }
            seen.append(chunk)
            if String(decoding: seen, as: UTF8.self).contains("p11kmsd: listening on \(socketPath)") { return }
        }
        throw FileTestError("p11kmsd did not start in time")
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func stop() async {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }

    /// CreateKey over the raw socket with curl-free HTTP: a SYMMETRIC_DEFAULT key id.
    func createKey() throws -> String {
        let body = #"{"Description":"cli file tests"}"#
        let response = try fileRawRequest(socketPath: socketPath, target: "CreateKey", body: body)
        guard let json = try JSONSerialization.jsonObject(with: response) as? [String: Any],
              let meta = json["KeyMetadata"] as? [String: Any], let id = meta["KeyId"] as? String else {
            throw FileTestError("CreateKey answered \(String(decoding: response, as: UTF8.self))")
        }
        return id
    }
}

/// One HTTP/1.1 request on a fresh Unix-socket connection (Connection: close); returns the body.
func fileRawRequest(socketPath: String, target: String, body: String) throws -> Data {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FileTestError("socket: \(errno)") }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(socketPath.utf8)
        raw.copyBytes(from: bytes.prefix(raw.count - 1))
        raw[min(bytes.count, raw.count - 1)] = 0
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { throw FileTestError("connect \(socketPath): \(errno)") }
    let request = "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService.\(target)\r\n"
        + "Content-Type: application/x-amz-json-1.1\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
    let bytes = Array(request.utf8)
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { throw FileTestError("write: \(errno)") }
        sent += n
    }
    var response = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        response.append(contentsOf: buffer[0..<n])
    }
    guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw FileTestError("no HTTP response") }
    let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
    if head.lowercased().contains("transfer-encoding: chunked") { throw FileTestError("chunked response not handled") }
    return Data(response[split.upperBound...])
}
