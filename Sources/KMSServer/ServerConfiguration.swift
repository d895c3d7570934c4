import NIOCore

public struct ServerConfiguration: Sendable {
    public var socketPath: String
    /// Group given the socket file (mode 0660); nil keeps the daemon's group.
    public var socketGroup: String?
    public var maxBodyBytes: Int = 64 * 1024
    public var maxHeaderBytes: Int = 16 * 1024
    public var maxConnections: Int = 1024
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

    public init(socketPath: String, socketGroup: String? = nil) {
        self.socketPath = socketPath
        self.socketGroup = socketGroup
    }
}
