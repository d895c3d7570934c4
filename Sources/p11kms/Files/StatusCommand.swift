import ArgumentParser
import Foundation
import KMSClient

/// `p11kms status`: the daemon's `GET /health`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's health (GET /health).",
        discussion: """
            Prints the token, login, session pool, store and state-directory checks of the daemon.
            Exit status 0: healthy ("status": "ok"); 1: degraded, or the daemon could not be reached.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, text }

    @OptionGroup var socketOptions: FileSocketOptions
    @Option(help: "Output format.") var output: Format = .json

    func run() async throws {
        let health: DaemonHealth
        var client: KMSClient?
        do {
            client = try socketOptions.client()
            health = try await client!.health()
        } catch {
            try? await client?.shutdown()
            fileWriteStderr("p11kms status: \(fileErrorMessage(error))\n")
            throw ExitCode(1)
        }
        try? await client?.shutdown()
        print(output == .json ? Self.json(health).rendered : Self.text(health))
        if !health.isHealthy { throw ExitCode(1) }
    }

    static func json(_ h: DaemonHealth) -> JSONValue {
        var object: [String: JSONValue] = [
            "status": .string(h.status), "token_present": .bool(h.tokenPresent), "logged_in": .bool(h.loggedIn),
            "store_writable": .bool(h.storeWritable),
            "sessions": .object(["open": .int(h.sessions.open), "borrowed": .int(h.sessions.borrowed),
                                 "max": .int(h.sessions.max)]),
            "keys_unavailable": .array(h.keysUnavailable.map(JSONValue.string)),
            "metadata_tampered": .object(h.metadataTampered.mapValues(JSONValue.string)),
        ]
        if let v = h.stateDirectoryWritable { object["state_directory_writable"] = .bool(v) }
        if let v = h.auditWritable { object["audit_writable"] = .bool(v) }
        if let v = h.auditKeyFingerprint { object["audit_key_fingerprint"] = .string(v) }
        if let v = h.unwrapTemplateEnforced { object["unwrap_template_enforced"] = .bool(v) }
        if let v = h.auditTruncated { object["audit_truncated"] = .string(v) }
        return .object(object)
    }

    static func text(_ h: DaemonHealth) -> String {
        func yes(_ b: Bool) -> String { b ? "yes" : "NO" }
        var lines = [
            "status: \(h.status)",
            "token present: \(yes(h.tokenPresent))",
            "logged in: \(yes(h.loggedIn))",
            "store writable: \(yes(h.storeWritable))",
            "sessions: \(h.sessions.open) open, \(h.sessions.borrowed) borrowed, max \(h.sessions.max)",
        ]
        if let v = h.stateDirectoryWritable { lines.append("state directory writable: \(yes(v))") }
        if let v = h.auditWritable { lines.append("audit log writable: \(yes(v))") }
        if let v = h.auditKeyFingerprint { lines.append("audit key fingerprint: \(v)") }
        if let v = h.auditTruncated { lines.append("AUDIT LOG TRUNCATED: \(v) (see p11kms audit acknowledge-truncation)") }
        if let v = h.unwrapTemplateEnforced {
            lines.append("domain key unwrap template enforced: " + (v ? "yes" : "NO (a PIN holder can extract wrapped keys)"))
        }
        if !h.keysUnavailable.isEmpty { lines.append("keys unavailable: \(h.keysUnavailable.joined(separator: ", "))") }
        for (key, reason) in h.metadataTampered.sorted(by: { $0.key < $1.key }) {
            lines.append("metadata tampered: \(key): \(reason)")
        }
        return lines.joined(separator: "\n")
    }
}
