import Foundation
import KMSClient
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real `p11kmsd --dev` on its own state directory (and so its own
/// SoftHSM2 token), built beside the test bundle; as in DaemonTests.
final class DaemonProcess: Sendable {
    let stateDirectory: String
    let socketPath: String
    private let process: Process
    private let output = Pipe()
    private let errors = Pipe()

    static func binary() throws -> String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates: [String] = [
            testBinary.appendingPathComponent("p11kmsd").path,
            testBinary.deletingLastPathComponent().appendingPathComponent("p11kmsd").path,
            checkout.appendingPathComponent(".build/debug/p11kmsd").path,
        ]
        if let explicit = ProcessInfo.processInfo.environment["P11KMSD"] { candidates.insert(explicit, at: 0) }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestFailure("p11kmsd not built; looked in \(candidates)")
        }
        return path
    }

    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    init() async throws {
        // Short: Unix socket paths are limited to 107 bytes.
        stateDirectory = "/tmp/p11kms-c-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        socketPath = stateDirectory + "/p11kms.sock"
        process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = ["--dev", "--state-dir", stateDirectory]
        process.currentDirectoryURL = Self.checkout   // softhsm-test.conf is found from here
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        try await waitUntilListening()
    }

    private func waitUntilListening() async throws {
        let handle = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(60)
        var seen = Data()
        while Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty {
                if !process.isRunning { throw TestFailure("p11kmsd exited early: \(stderrText())") }
                try await Task.sleep(for: .milliseconds(20))
                continue
            }
            seen.append(chunk)
            if String(decoding: seen, as: UTF8.self).contains("p11kmsd: listening on \(socketPath)") { return }
        }
        throw TestFailure("p11kmsd did not print its listening line in time: \(stderrText())")
    }

    /// A daemon a failed test left running is killed, never left behind.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func stderrText() -> String {
        String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
    }

    /// SIGTERM, wait, remove the state; returns the exit status.
    func stop() async throws -> Int32 {
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning {
            guard Date() < deadline else { throw TestFailure("p11kmsd did not exit in 30 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs `body` with a client of a fresh daemon; shuts both down afterwards
/// and checks the daemon exits 0.
func withClient(_ body: (KMSClient) async throws -> Void) async throws {
    let daemon = try await DaemonProcess()
    let client = try KMSClient(socketPath: daemon.socketPath)
    do {
        try await body(client)
    } catch {
        try? await client.shutdown()
        _ = try? await daemon.stop()
        throw error
    }
    try await client.shutdown()
    let status = try await daemon.stop()
    #expect(status == 0, "p11kmsd exits 0 on SIGTERM")
}
