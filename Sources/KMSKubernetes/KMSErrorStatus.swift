import GRPCCore
import KMSModel

extension RPCError {
    /// The gRPC status for a KMS error. A ciphertext, key_id or annotation
    /// that does not check out is INVALID_ARGUMENT with one message whatever
    /// failed; a KEK that cannot be used now is FAILED_PRECONDITION.
    init(_ error: KMSError) {
        switch error.name {
        case .invalidCiphertext, .incorrectKey:
            self.init(code: .invalidArgument, message: KubernetesPlugin.refusedCiphertext)
        case .validation, .serialization:
            self.init(code: .invalidArgument, message: "\(error.name.rawValue): \(error.message)")
        case .disabled, .kmsInvalidState, .keyUnavailable, .notFound, .invalidKeyUsage:
            self.init(code: .failedPrecondition, message: "\(error.name.rawValue): \(error.message)")
        case .accessDenied:
            self.init(code: .permissionDenied, message: "\(error.name.rawValue): \(error.message)")
        case .throttling:
            self.init(code: .resourceExhausted, message: "\(error.name.rawValue): \(error.message)")
        case .dependencyTimeout:
            self.init(code: .unavailable, message: "\(error.name.rawValue): \(error.message)")
        default:
            self.init(code: .internalError, message: "\(error.name.rawValue): \(error.message)")
        }
    }
}
