import Foundation
import KMSKubernetes
import Logging
import ServiceLifecycle
import Synchronization

/// The Kubernetes KMS plugin as a lifecycle service: graceful shutdown stops it.
struct KubernetesPluginService: Service {
    let plugin: KubernetesPlugin
    let onListening: @Sendable () -> Void
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await plugin.run(onListening: onListening)
        } onGracefulShutdown: {
            plugin.shutdown()
        }
    }
}

/// Prints the one `p11kmsd: listening on ...` line that scripts wait for
/// (on stdout, at once, not buffered) when the last of the sockets is open.
final class Readiness: Sendable {
    private let state: Mutex<(waiting: Int, line: String?)>

    init(sockets: Int) {
        state = Mutex((sockets, nil))
    }

    /// One socket is open; `line` is the main socket's text.
    func open(_ line: String?) {
        let ready = state.withLock { s -> String? in
            if let line { s.line = line }
            s.waiting -= 1
            return s.waiting == 0 ? s.line : nil
        }
        if let ready { FileHandle.standardOutput.write(Data((ready + "\n").utf8)) }
    }
}
