import Synchronization

/// What the engine learns about a request that its audit line records: the
/// key, the version and the encryption context. `KMSService` hands one to
/// each engine call and reads it afterwards, also when the call threw, so a
/// refused Decrypt is still recorded against the key it named. (A return
/// value could not carry facts out of a thrown error; a task-local could be
/// forgotten by a front end. This is passed explicitly instead.)
public final class AuditFacts: Sendable {
    public struct Details: Sendable, Hashable {
        public var keyID: String?
        /// Every key the request was authorised on, in order (ReEncrypt
        /// names two): the keys a successful request used.
        public var keyIDs: [String] = []
        public var keyVersion: UInt32?
        public var encryptionContext: [String: String]?
        /// The grant that allowed the request, or that it changed.
        public var grantID: String?
    }

    private let details = Mutex(Details())

    public init() {}

    public var recorded: Details { details.withLock { $0 } }

    /// The first key named stays (ReEncrypt's destination is authorised
    /// first); the last version used wins; a context is kept if not empty.
    func note(keyID: String? = nil, version: UInt32? = nil, context: [String: String]? = nil, grantID: String? = nil) {
        details.withLock { d in
            if let grantID, d.grantID == nil { d.grantID = grantID }
            if let keyID {
                if d.keyID == nil { d.keyID = keyID }
                if !d.keyIDs.contains(keyID) { d.keyIDs.append(keyID) }
            }
            if let version { d.keyVersion = version }
            if let context, !context.isEmpty { d.encryptionContext = context }
        }
    }
}
