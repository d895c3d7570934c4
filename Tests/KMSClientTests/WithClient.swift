import DaemonTestSupport
import KMSClient
import Testing

/// Runs `body` with a client of a fresh daemon (DaemonTestSupport's real
/// `p11kmsd --dev`); shuts both down afterwards and checks the daemon exits 0.
func withClient(_ body: (KMSClient) async throws -> Void) async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.removeState() }
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
