/// Why an envelope could not be made or opened. Decryption failures say
/// what kind of damage was found, never anything about the plaintext.
public struct EnvelopeError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidFrameSize, encryptionContextTooLarge, malformedHeader, unsupportedVersion
            case encryptionContextMismatch, dataKeyRejected, headerAuthenticationFailed
            case malformedFrame, frameAuthenticationFailed, truncated, trailingData
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// Encryption: the frame size is outside 1 ... 16 MiB.
        public static let invalidFrameSize = Code(.invalidFrameSize)
        /// Encryption: the canonical encryption context does not fit the header.
        public static let encryptionContextTooLarge = Code(.encryptionContextTooLarge)
        /// Not an envelope, or its header's fields are out of range.
        public static let malformedHeader = Code(.malformedHeader)
        /// An envelope of a format version this library cannot read.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The encryption context given for decryption is not the envelope's.
        public static let encryptionContextMismatch = Code(.encryptionContextMismatch)
        /// KMS would not decrypt the data key in the header (altered, or made
        /// under another context).
        public static let dataKeyRejected = Code(.dataKeyRejected)
        /// The header was altered (its tag does not verify under the data key,
        /// or it names another key than the one that made the data key).
        public static let headerAuthenticationFailed = Code(.headerAuthenticationFailed)
        /// A frame's own framing is invalid (unknown frame type, bad length).
        public static let malformedFrame = Code(.malformedFrame)
        /// A frame's tag does not verify: altered, reordered, duplicated or removed frames.
        public static let frameAuthenticationFailed = Code(.frameAuthenticationFailed)
        /// The ciphertext ends before its final frame.
        public static let truncated = Code(.truncated)
        /// Bytes follow the final frame.
        public static let trailingData = Code(.trailingData)
    }
}
