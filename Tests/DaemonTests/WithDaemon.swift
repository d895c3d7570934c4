import DaemonTestSupport
import Testing

/// Runs `body` against a fresh daemon, stopping it (and checking it exits 0) afterwards.
func withDaemon(arguments: [String] = [], _ body: (DaemonProcess) async throws -> Void) async throws {
    let daemon = try await DaemonProcess(arguments: arguments)
    defer { daemon.removeState() }
    do {
        try await body(daemon)
    } catch {
        _ = try? await daemon.stop()
        throw error
    }
    let status = try await daemon.stop()
    #expect(status == 0, "p11kmsd exits 0 on SIGTERM; stderr: \(daemon.stderrText())")
}
