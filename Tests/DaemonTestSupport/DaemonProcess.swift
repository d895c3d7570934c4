import Foundation
import SoftHSMTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real `p11kmsd --dev` process on its own state directory (and so its own
/// SoftHSM2 token), started from the build directory and stopped at the end.
/// Shared by the test targets that drive a daemon (DaemonTests,
/// KMSClientTests); not linked into any product.
public final class DaemonProcess: @unchecked Sendable {
    // @unchecked: the Process is only touched by the test that owns this object.
    public let stateDirectory: String
    public let process: SpawnedChild
    public let socketPath: String
    /// Both streams are read as they come, each on a thread of its own: a
    /// pipe left unread fills (64 KiB) and then blocks the daemon's next line.
    private let output: PipeDrain
    private let errors: PipeDrain
    /// `p11kmsd: listening on SOCKET[ and http://IP:PORT]`.
    public private(set) var listeningLine = ""

    /// The TCP listener's endpoint (`--tcp`), from the listening line.
    public var tcpEndpoint: String? {
        listeningLine.range(of: " and ").map { String(listeningLine[$0.upperBound...]) }
    }

    public static func binary() throws -> String {
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
            throw DaemonError("p11kmsd not built; looked in \(candidates)")
        }
        return path
    }

    /// The `p11kms` CLI built beside the daemon.
    public static func cli() throws -> String {
        URL(fileURLWithPath: try binary()).deletingLastPathComponent().appendingPathComponent("p11kms").path
    }

    /// Runs a command to its exit; returns its status and standard output
    /// (with standard error too if `withErrors`). `environment` replaces the
    /// inherited one when given; `directory` is the working directory.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    directory: URL? = nil, withErrors: Bool = false) throws -> (Int32, String) {
        let result = try ChildProcess.run(executable, arguments, environment: environment, directory: directory)
        return (result.status, withErrors ? result.output + result.errors : result.output)
    }

    /// `run` for async callers: the child is awaited on a thread of its own,
    /// never on Swift's cooperative pool (see `ChildProcess.run`).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           directory: URL? = nil, withErrors: Bool = false) async throws -> (Int32, String) {
        let result = try await ChildProcess.run(executable, arguments, environment: environment, directory: directory)
        return (result.status, withErrors ? result.output + result.errors : result.output)
    }

    /// A short state directory: Unix socket paths are limited to 107 bytes.
    public static func makeStateDirectory() -> String {
        "/tmp/p11kms-d-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    public convenience init(stateDirectory: String = DaemonProcess.makeStateDirectory(), arguments: [String] = [],
                            wrapper: [String] = []) async throws {
        try await self.init(stateDirectory: stateDirectory, socketPath: stateDirectory + "/p11kms.sock",
                            arguments: ["--dev", "--state-dir", stateDirectory] + arguments, wrapper: wrapper)
    }

    /// A daemon started with any arguments (e.g. `--config FILE`).
    /// `wrapper` runs the daemon under another command, e.g.
    /// `["/usr/bin/prlimit", "--fsize=1000000", "--"]`.
    public init(stateDirectory: String, socketPath: String, arguments: [String], environment: [String: String] = [:],
                wrapper: [String] = []) async throws {
        self.stateDirectory = stateDirectory
        self.socketPath = socketPath
        let binary = try Self.binary()
        let (executable, argv) = wrapper.first.map { ($0, Array(wrapper.dropFirst()) + [binary] + arguments) } ?? (binary, arguments)
        // Run from the checkout so softhsm-test.conf is found.
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let out = try Spawn.pipe(), err = try Spawn.pipe()
        let pid: pid_t
        do {
            pid = try Spawn.start(executable, argv,
                                  environment: ProcessEnvironment.current()
                                      .merging(environment.merging(["P11KMS_EXIT_WITH_PARENT": "1"]) { a, _ in a }) { $1 },
                                  directory: checkout, stdin: nil, stdout: out.write, stderr: err.write)
        } catch {
            for fd in [out.read, out.write, err.read, err.write] { close(fd) }
            throw error
        }
        close(out.write)
        close(err.write)
        process = SpawnedChild(pid: pid)
        output = PipeDrain(FileHandle(fileDescriptor: out.read, closeOnDealloc: true))
        errors = PipeDrain(FileHandle(fileDescriptor: err.read, closeOnDealloc: true))
        try await waitUntilListening()
    }

    private func waitUntilListening() async throws {
        // Generous: under a full parallel suite a start can take many seconds.
        let deadline = Date().addingTimeInterval(60)
        let prefix = "p11kmsd: listening on \(socketPath)"
        while Date() < deadline {
            // Whole lines only: a line cut mid-write would lose its TCP endpoint.
            let lines = String(decoding: output.data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            if let line = lines.first(where: { $0.hasPrefix(prefix) }) {
                listeningLine = String(line)
                return
            }
            if output.finished && !process.isRunning { throw DaemonError("p11kmsd exited early: \(stderrText())") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DaemonError("p11kmsd did not print its listening line in time: \(stderrText())")
    }

    /// A daemon a failed test left running is killed, never left behind.
    deinit {
        if process.isRunning { kill(process.pid, SIGKILL) }
    }

    public func stderrText() -> String {
        String(decoding: errors.data, as: UTF8.self)
    }

    public func signal(_ sig: Int32) { kill(process.pid, sig) }

    /// Waits for exit; returns the exit status.
    public func waitForExit(timeout: TimeInterval = 30) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            guard Date() < deadline else { throw DaemonError("p11kmsd did not exit in \(timeout) s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// SIGTERM and wait; the daemon must exit 0.
    @discardableResult
    public func stop() async throws -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        signal(SIGTERM)
        return try await waitForExit()
    }

    public func removeState() { try? FileManager.default.removeItem(atPath: stateDirectory) }

    public func client() throws -> HTTPClient { try HTTPClient(socketPath: socketPath) }

    /// One request on a fresh connection.
    public func call(_ operation: String, _ body: String = "{}") throws -> HTTPClient.Response {
        let c = try client()
        defer { c.close() }
        return try c.operation(operation, body)
    }

    public func callJSON(_ operation: String, _ body: [String: Any]) throws -> (Int, [String: Any]) {
        let data = try JSONSerialization.data(withJSONObject: body)
        let r = try call(operation, String(decoding: data, as: UTF8.self))
        return (r.status, r.json)
    }
}

/// Every line of the audit log files in `directory`, parsed.
public func auditEvents(_ directory: String) throws -> [[String: Any]] {
    let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
    return try files.flatMap { file in
        try String(contentsOfFile: directory + "/" + file, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

public struct DaemonError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
