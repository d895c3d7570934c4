import KMSCore
import NIOCore

public struct ServerConfiguration: Sendable {
    public var socketPath: String
    /// Group given the socket file (mode 0660); nil keeps the daemon's group.
    public var socketGroup: String?
    public var maxBodyBytes: Int = 64 * 1024
    public var maxHeaderBytes: Int = 16 * 1024
    public var maxConnections: Int = 1024
    /// Connections one caller (a uid on the socket, a source address on TCP)
    /// may hold open; nil: three quarters of `maxConnections`.
    public var maxConnectionsPerCallerSetting: Int?
    public var maxConnectionsPerCaller: Int { maxConnectionsPerCallerSetting ?? max(1, maxConnections * 3 / 4) }
    /// How long a connection may sit with no request started.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// How long a client may take to send a request once it has begun.
    public var requestTimeout: TimeAmount = .seconds(10)
    /// The state directory, whose writability `/health` reports.
    public var stateDirectory: String?
    /// The optional TCP listener with SigV4 authentication; nil: Unix socket only.
    public var tcp: TCPListenerConfiguration?
    /// Requests being performed or waiting for an HSM session at once; one
    /// more is refused with ThrottlingException so SDKs back off and retry.
    /// Nil: no bound (the pool's queue grows with the connections).
    public var maxConcurrentRequests: Int?
    /// Requests one caller (a uid, or an access key) may have in progress;
    /// nil: three quarters of `maxConcurrentRequests`.
    public var maxRequestsPerCallerSetting: Int?
    public var maxRequestsPerCaller: Int? {
        maxRequestsPerCallerSetting ?? maxConcurrentRequests.map { max(1, $0 * 3 / 4) }
    }
    /// How long SIGTERM lets requests in flight finish before cancelling them.
    public var drainTimeout: Duration = .seconds(10)
    /// Who may read `GET /metrics` on the Unix socket; nil means the
    /// configured admins (`[access] admins`). Metrics name operations, keys'
    /// request rates and error counts: not for every socket user.
    public var metricsReaders: PrincipalSet?

    public init(socketPath: String, socketGroup: String? = nil) {
        self.socketPath = socketPath
        self.socketGroup = socketGroup
    }
}
