import DaemonTestSupport
import Foundation
import GRPCCore
import KMSKubernetes
import SwiftProtobuf
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Who may use the plugin, a standard (Python grpcio) client, and the
/// audit report of KEK versions in use.
@Suite("Kubernetes KMS v2 plugin: callers")
struct PluginCallerTests {
    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let proto = checkout.appendingPathComponent("Sources/KMSKubernetes/Generated/api.proto").path

    /// Runs a command on a thread of its own (it blocks), returning its output.
    static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let output = Mutex("")
        let errors = await onThreads(1) { _ in
            let (_, out) = try DaemonProcess.run(executable, arguments, withErrors: true)
            output.withLock { $0 = out }
        }
        if case let error?? = errors.first { throw error }
        return output.withLock { $0 }
    }

    /// A stranger uid (setpriv) reaches the socket (its group is nogroup)
    /// but the KEK's policy refuses it: curl speaks gRPC's HTTP/2 framing.
    @Test(.enabled(if: getuid() == 0, "needs root to run a client as another uid"))
    func aStrangerUIDIsRefusedByTheKeyPolicy() async throws {
        try await Plugin.with(arguments: ["--socket-group", "65534"]) { p in
            #expect(chmod(p.daemon.stateDirectory, 0o711) == 0)
            var request = V2_EncryptRequest()
            request.plaintext = seed()
            request.uid = "stranger"
            let message: [UInt8] = try request.serializedBytes()
            let length = UInt32(message.count).bigEndian
            let frame = Data([0]) + withUnsafeBytes(of: length) { Data($0) } + Data(message)
            let body = p.daemon.stateDirectory + "/stranger-request.bin"
            #expect(FileManager.default.createFile(atPath: body, contents: frame, attributes: [.posixPermissions: 0o644]))
            let out = try await Self.run("/usr/bin/setpriv", [
                "--reuid=2001", "--regid=65534", "--clear-groups", "/usr/bin/curl", "-s", "--http2-prior-knowledge",
                "--unix-socket", p.socketPath, "-H", "content-type: application/grpc", "-H", "te: trailers",
                "--data-binary", "@" + body, "-D", "-", "-o", "/dev/null",
                "http://localhost/v2.KeyManagementService/Encrypt"])
            #expect(out.lowercased().contains("grpc-status: 7"), "PERMISSION_DENIED for uid 2001: \(out)")
            // The caller who started the daemon still may.
            #expect(try await p.decrypt(try await p.encrypt(seed())).count == 32)
            let denied = try auditEvents(p.daemon.stateDirectory + "/audit").filter { e in
                e["operation"] as? String == "Encrypt" && e["outcome"] as? String == "denied"
                    && (e["principal"] as? [String: Any])?["uid"] as? Int == 2001
            }
            #expect(denied.count == 1, "the refusal is audited with the stranger's uid")
        }
    }

    /// grpcio with stubs generated now from the committed proto: the wire
    /// format is the standard one.
    @Test func aPythonGRPCClientDoesTheRoundTrip() async throws {
        try await Plugin.with { p in
            let out = try await Self.run("/usr/bin/env", [
                "python3", Self.checkout.appendingPathComponent("Tests/kubernetes-plugin/kms_v2_roundtrip.py").path,
                p.socketPath, Self.proto])
            let line = out.split(separator: "\n").last ?? ""
            let object = try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                                      "kms_v2_roundtrip.py printed: \(out)")
            do {
                #expect(object["version"] as? String == "v2")
                #expect(object["healthz"] as? String == "ok")
                #expect(object["round_trip"] as? Bool == true)
                #expect(object["encrypt_key_id"] as? String == object["status_key_id"] as? String)
                #expect((object["ciphertext_bytes"] as? Int ?? 9999) <= 1024)
                #expect(object["changed_annotation"] as? String == "INVALID_ARGUMENT")
            }
        }
    }

    /// `p11kms audit kek-versions` counts the plugin's Decrypts per version.
    @Test func theAuditReportNamesTheVersionsStillDecrypted() async throws {
        try await Plugin.with { p in
            let old = try await p.encrypt(seed())
            _ = try p.kek("RotateKeyOnDemand")
            let new = try await p.encrypt(seed())
            for _ in 0..<2 { _ = try await p.decrypt(old) }
            _ = try await p.decrypt(new)
            _ = try await p.status()
            let directory = p.daemon.stateDirectory + "/audit"
            let out = try await Self.run(try DaemonProcess.cli(), ["audit", "kek-versions", directory, "--json"])
            let rows = (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]) ?? []
            let counts = Dictionary(uniqueKeysWithValues: rows.map { ($0["key_version"] as? Int ?? 0, $0["decrypts"] as? Int ?? 0) })
            #expect(counts == [1: 2, 2: 1], "probes are not counted: \(out)")
        }
    }
}
