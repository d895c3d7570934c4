import DaemonTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KMSKubernetes
import Testing

typealias PluginClient = V2_KeyManagementService.Client<HTTP2ClientTransport.Posix>

/// A dev daemon serving the plugin (`--kubernetes-socket`), and a gRPC client on that socket.
struct Plugin {
    let daemon: DaemonProcess
    let socketPath: String
    let client: PluginClient

    /// Runs `body` against a fresh daemon and client; stops the daemon
    /// afterwards and checks it exits 0.
    static func with(arguments: [String] = [], _ body: (Plugin) async throws -> Void) async throws {
        let directory = DaemonProcess.makeStateDirectory()
        let socket = directory + "/k8s.sock"
        let daemon = try await DaemonProcess(stateDirectory: directory, arguments: ["--kubernetes-socket", socket] + arguments)
        defer { daemon.removeState() }
        do {
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { grpc in
                try await body(Plugin(daemon: daemon, socketPath: socket, client: PluginClient(wrapping: grpc)))
            }
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
        let status = try await daemon.stop()
        #expect(status == 0, "p11kmsd exits 0 on SIGTERM; stderr: \(daemon.stderrText())")
    }

    func status() async throws -> V2_StatusResponse {
        try await client.status(V2_StatusRequest())
    }

    func encrypt(_ plaintext: Data, uid: String = UUID().uuidString) async throws -> V2_EncryptResponse {
        var request = V2_EncryptRequest()
        request.plaintext = plaintext
        request.uid = uid
        return try await client.encrypt(request)
    }

    func decrypt(_ sealed: V2_EncryptResponse, uid: String = UUID().uuidString) async throws -> Data {
        try await decrypt(ciphertext: sealed.ciphertext, keyID: sealed.keyID, annotations: sealed.annotations, uid: uid)
    }

    func decrypt(ciphertext: Data, keyID: String, annotations: [String: Data], uid: String = UUID().uuidString) async throws -> Data {
        var request = V2_DecryptRequest()
        request.ciphertext = ciphertext
        request.keyID = keyID
        request.annotations = annotations
        request.uid = uid
        return try await client.decrypt(request).plaintext
    }

    /// A main-socket operation on the KEK, as the developer (an admin in dev mode).
    /// (By key id: the management operations take no alias, as in AWS.)
    func kek(_ operation: String, _ extra: [String: Any] = [:]) throws -> [String: Any] {
        let (_, described) = try daemon.callJSON("DescribeKey", ["KeyId": "alias/kubernetes"])
        let keyID = (described["KeyMetadata"] as? [String: Any])?["KeyId"] as? String ?? "alias/kubernetes"
        let (status, body) = try daemon.callJSON(operation, ["KeyId": keyID].merging(extra) { $1 })
        guard status == 200 else { throw DaemonError("\(operation) answered \(status): \(body)") }
        return body
    }
}

/// The gRPC status code `body` fails with (nil if it succeeds).
func rpcCode(_ body: () async throws -> some Any) async -> (RPCError.Code?, String) {
    do {
        _ = try await body()
        return (nil, "")
    } catch let error as RPCError {
        return (error.code, error.message)
    } catch {
        return (.unknown, "\(error)")
    }
}

func seed() -> Data { Data((0..<32).map { _ in UInt8.random(in: 0...255) }) }
