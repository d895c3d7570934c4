import AsyncHTTPClient
import Foundation
import KMSModel
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A client of `p11kmsd` over its Unix socket: one typed async method per
/// operation (see `KMSClient+Operations.swift`), AWS JSON 1.1 on the wire.
///
/// ```swift
/// let kms = try KMSClient()     // $P11KMS_SOCKET, ./.p11kms-dev/p11kms.sock, /run/p11kms/p11kms.sock
/// let key = try await kms.createKey(CreateKeyRequest(description: "orders"))
/// let sealed = try await kms.encrypt(EncryptRequest(keyId: key.keyMetadata.keyId, plaintext: Data("hi".utf8)))
/// try await kms.shutdown()
/// ```
///
/// Failures the service reports are thrown as `KMSError` (its `name` is the
/// AWS exception, e.g. `.notFound`); failures to reach the service or to
/// read its answer are thrown as `KMSClientError`. Call `shutdown()` once
/// done: the connection pool is not released otherwise.
public final class KMSClient: Sendable {
    /// The socket this client talks to.
    public let socketPath: String
    private let http: HTTPClient
    private let url: String
    private let timeout: TimeAmount

    /// The largest response body read; the daemon's answers are far smaller.
    private static let maxResponseBytes = 16 << 20

    /// - Parameters:
    ///   - socketPath: the daemon's socket; `nil` looks in `$P11KMS_SOCKET`,
    ///     then `./.p11kms-dev/p11kms.sock` (dev mode), then `/run/p11kms/p11kms.sock`.
    ///   - timeout: the longest one call may take, connecting included.
    public init(socketPath: String? = nil, timeout: Duration = .seconds(30)) throws {
        let path = socketPath ?? Self.defaultSocketPath()
        // sockaddr_un.sun_path is 108 bytes with its terminating NUL.
        guard !path.isEmpty, path.utf8.count <= 107 else {
            throw KMSClientError(.invalidSocketPath,
                                 "'\(path)' cannot be a Unix socket path (empty, or longer than 107 bytes)")
        }
        guard let url = URL(httpURLWithSocketPath: path, uri: "/") else {
            throw KMSClientError(.invalidSocketPath, "'\(path)' cannot be a Unix socket path")
        }
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(5), read: TimeAmount(timeout))
        // Below the daemon's idle timeout (60 s by default), so we never
        // reuse a connection the daemon is closing.
        configuration.connectionPool = .init(idleTimeout: .seconds(20))
        configuration.connectionPool.retryConnectionEstablishment = false
        self.socketPath = path
        self.url = url.absoluteString
        self.timeout = TimeAmount(timeout)
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// `$P11KMS_SOCKET`, else `./.p11kms-dev/p11kms.sock` when it is there
    /// and trusted (`DevSocketTrust`: the caller owns it and its directory,
    /// and no one else can write to either), else `/run/p11kms/p11kms.sock`
    /// — the order `p11kms` uses (DESIGN.md §8). A dev socket that is there
    /// but not trusted is skipped, with the reason passed to `warn`.
    public static func defaultSocketPath(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        inspect: (String) -> DevSocketTrust = { DevSocketTrust.inspect($0) },
        warn: (String) -> Void = { FileHandle.standardError.write(Data(("p11kms: warning: " + $0 + "\n").utf8)) }
    ) -> String {
        if let path = environment["P11KMS_SOCKET"], !path.isEmpty { return path }
        let dev = "./.p11kms-dev/p11kms.sock"
        switch inspect(dev) {
        case .trusted:
            return dev
        case .untrusted(let reason):
            warn("not using \(dev): \(reason). Name the socket with --socket or $P11KMS_SOCKET to use it anyway.")
            return "/run/p11kms/p11kms.sock"
        case .absent:
            return "/run/p11kms/p11kms.sock"
        }
    }

    /// Releases the connection pool. Calls after this fail.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// One operation: `request` encoded with AWS's member names, the answer
    /// decoded as `Response`. The typed methods are thin wrappers of this.
    public func call<Request: Encodable, Response: Decodable>(
        _ operation: KMSOperation, _ request: Request, as response: Response.Type = Response.self
    ) async throws -> Response {
        var body = try AWSJSONCodec.encode(request)
        defer { secureZero(&body) }   // requests may carry plaintext: wipe our copy
        var httpRequest = HTTPClientRequest(url: url)
        httpRequest.method = .POST
        httpRequest.headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        httpRequest.headers.add(name: "X-Amz-Target", value: "TrentService." + operation.rawValue)
        httpRequest.body = .bytes(ByteBuffer(data: body))
        var response = try await send(httpRequest, operation: operation.rawValue)
        // Responses may carry plaintext or data keys: wipe our copies once
        // decoded (a copy, so each buffer is the only owner of its bytes).
        var data = Data(buffer: response.body, byteTransferStrategy: .copy)
        defer {
            secureZero(&response.body)
            secureZero(&data)
        }
        guard response.status == .ok else {
            throw Self.serviceError(status: response.status, body: data, operation: operation)
        }
        do {
            return try AWSJSONCodec.makeDecoder().decode(Response.self, from: data.isEmpty ? Data("{}".utf8) : data)
        } catch {
            throw KMSClientError(.malformedResponse,
                                 "\(operation.rawValue): the answer from \(socketPath) is not the JSON expected (\(error))")
        }
    }

    /// `GET /health`: the daemon's view of its token, login, sessions and
    /// store. A degraded daemon answers too (HTTP 503, `status` "degraded").
    public func health() async throws -> DaemonHealth {
        var request = HTTPClientRequest(url: url + "health")
        request.method = .GET
        let response = try await send(request, operation: "GET /health")
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(DaemonHealth.self, from: Data(buffer: response.body))
        } catch {
            throw KMSClientError(.malformedResponse, "GET /health: the answer from \(socketPath) is not the JSON expected (\(error))")
        }
    }

    /// `POST /admin/acknowledge-audit-truncation`: an admin lets a daemon
    /// whose audit log was found cut short serve again (the acknowledgement is
    /// itself audited). Returns the finding acknowledged, or nil when the log
    /// was not truncated.
    public func acknowledgeAuditTruncation() async throws -> String? {
        let object = try await acknowledge("acknowledge-audit-truncation")
        return object["acknowledged"] as? Bool == true ? object["finding"] as? String ?? "" : nil
    }

    /// Accepts the metadata store as it is after the daemon's start-up check
    /// held keys with rows older than the token's anchor (admins only).
    /// Returns the keys accepted, or nil when none was held.
    public func acknowledgeMetadataRollback() async throws -> [String]? {
        let object = try await acknowledge("acknowledge-metadata-rollback")
        return object["acknowledged"] as? Bool == true ? object["keys"] as? [String] ?? [] : nil
    }

    /// The daemon's signed compliance report (or one key's attestation), as
    /// the bytes it answered: `parameters` is the JSON of POST /admin/report.
    public func complianceReport(_ parameters: [String: Any]) async throws -> Data {
        var request = HTTPClientRequest(url: url + "admin/report")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: parameters)))
        let response = try await send(request, operation: "report")
        let data = Data(buffer: response.body)
        guard response.status == .ok else {
            if let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
               let type = object["__type"] as? String {
                throw KMSError(KMSError.Name(rawValue: type), object["message"] as? String ?? "")
            }
            throw KMSClientError(.malformedResponse, "report: HTTP \(response.status.code) from \(socketPath)")
        }
        return data
    }

    /// POSTs to /admin/<name>; the JSON object answered.
    private func acknowledge(_ name: String) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: url + "admin/" + name)
        request.method = .POST
        let response = try await send(request, operation: name)
        let data = Data(buffer: response.body)
        guard response.status == .ok else {
            if let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
               let type = object["__type"] as? String {
                throw KMSError(KMSError.Name(rawValue: type), object["message"] as? String ?? "")
            }
            throw KMSClientError(.malformedResponse, "\(name): HTTP \(response.status.code) from \(socketPath)")
        }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    private struct RawResponse {
        var status: HTTPResponseStatus
        var body: ByteBuffer
    }

    /// Sends one request; transport failures become `KMSClientError`.
    private func send(_ request: HTTPClientRequest, operation: String) async throws -> RawResponse {
        // A missing socket is the common mistake: say so at once.
        guard FileManager.default.fileExists(atPath: socketPath) else {
            throw KMSClientError(.cannotConnect, "cannot connect to \(socketPath): no such socket; is p11kmsd running?")
        }
        var attempt = 0
        while true {
            do {
                let response = try await http.execute(request, timeout: timeout)
                let body = try await response.body.collect(upTo: Self.maxResponseBytes)
                return RawResponse(status: response.status, body: body)
            } catch let error as IOError where Self.refusedBeforeSending.contains(error.errnoCode) && attempt < 3 {
                // connect(2) failed, so the daemon never saw the request and
                // it is safe to send again: a full listen backlog clears quickly.
                attempt += 1
                try await Task.sleep(for: .milliseconds(25 << attempt))
            } catch {
                throw clientError(error, operation: operation)
            }
        }
    }

    /// connect(2) errors: the request was not sent.
    private static let refusedBeforeSending: Set<Int32> = [ECONNREFUSED, EAGAIN, ENOENT]

    private func clientError(_ error: any Error, operation: String) -> any Error {
        switch error {
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout:
            return KMSClientError(.timedOut, "\(operation): no answer from \(socketPath) within \(timeout.nanoseconds / 1_000_000_000) s")
        case let error as HTTPClientError where error == .connectTimeout:
            return KMSClientError(.cannotConnect, "cannot connect to \(socketPath): timed out; is p11kmsd running?")
        case let error as HTTPClientError where error == .alreadyShutdown:
            return KMSClientError(.connectionFailed, "\(operation): this KMSClient has been shut down")
        case let error as HTTPClientError:
            return KMSClientError(.connectionFailed, "\(operation): the connection to \(socketPath) failed (\(error))")
        case is NIOTooManyBytesError:
            return KMSClientError(.malformedResponse, "\(operation): the answer from \(socketPath) is larger than \(Self.maxResponseBytes) bytes")
        case is CancellationError:
            return error
        case let error as IOError where error.errnoCode == EACCES || error.errnoCode == EPERM:
            return KMSClientError(.cannotConnect, "cannot connect to \(socketPath): permission denied; may this user use the socket (its group)?")
        case let error as IOError where error.errnoCode == ECONNREFUSED:
            return KMSClientError(.cannotConnect, "cannot connect to \(socketPath): connection refused; is p11kmsd running?")
        case let error as IOError:
            return KMSClientError(.cannotConnect, "cannot connect to \(socketPath): \(String(cString: strerror(error.errnoCode))); is p11kmsd running?")
        default:
            return KMSClientError(.connectionFailed, "\(operation): the connection to \(socketPath) failed (\(error))")
        }
    }

    /// `{"__type": "...", "message": "..."}` as a `KMSError`; anything else
    /// as a `KMSClientError`.
    static func serviceError(status: HTTPResponseStatus, body: Data, operation: KMSOperation) -> any Error {
        if let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
           var type = object["__type"] as? String, !type.isEmpty {
            // AWS may qualify the name ("com.amazonaws.kms#NotFoundException").
            if let hash = type.lastIndex(of: "#") { type = String(type[type.index(after: hash)...]) }
            let message = object["message"] as? String ?? object["Message"] as? String ?? ""
            return KMSError(KMSError.Name(rawValue: type), message)
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return KMSClientError(.malformedResponse,
                              "\(operation.rawValue): HTTP \(status.code) without an AWS error body: \(text)")
    }
}
