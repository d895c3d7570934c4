/// A failure to reach `p11kmsd` or to read its answer — as opposed to a
/// `KMSError`, which the service itself reported.
public struct KMSClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    /// What happened, naming the socket; never carries request or response bodies' secrets.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case cannotConnect, connectionFailed, timedOut, malformedResponse, invalidSocketPath
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// The socket is missing, refuses connections, or may not be opened.
        public static let cannotConnect = Code(.cannotConnect)
        /// The connection broke during a call.
        public static let connectionFailed = Code(.connectionFailed)
        /// No answer in the client's timeout.
        public static let timedOut = Code(.timedOut)
        /// The answer is not the AWS JSON 1.1 expected.
        public static let malformedResponse = Code(.malformedResponse)
        /// The path cannot name a Unix socket.
        public static let invalidSocketPath = Code(.invalidSocketPath)
    }
}
