/// An error as AWS KMS reports it: the exception name clients switch on and a
/// sentence a person can act on. Never carries plaintext, key bytes or PINs.
public struct KMSError: Error, Hashable, Sendable, CustomStringConvertible {
    public let name: Name
    public let message: String

    public init(_ name: Name, _ message: String) {
        self.name = name
        self.message = message
    }

    public var description: String { "\(name.rawValue): \(message)" }

    /// HTTP status AWS uses for this exception.
    public var httpStatus: Int {
        switch name {
        case .kmsInternal, .dependencyTimeout: 500
        case .missingAuthenticationToken: 403
        default: 400
        }
    }

    /// AWS exception names (`__type` on the wire).
    public struct Name: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let accessDenied = Name(rawValue: "AccessDeniedException")
        public static let alreadyExists = Name(rawValue: "AlreadyExistsException")
        public static let conflict = Name(rawValue: "ConflictException")
        // Custom key stores (extra PKCS#11 tokens as AWS_CLOUDHSM key stores).
        public static let cloudHsmClusterInUse = Name(rawValue: "CloudHsmClusterInUseException")
        public static let cloudHsmClusterNotFound = Name(rawValue: "CloudHsmClusterNotFoundException")
        public static let customKeyStoreHasCMKs = Name(rawValue: "CustomKeyStoreHasCMKsException")
        public static let customKeyStoreInvalidState = Name(rawValue: "CustomKeyStoreInvalidStateException")
        public static let customKeyStoreNameInUse = Name(rawValue: "CustomKeyStoreNameInUseException")
        public static let customKeyStoreNotFound = Name(rawValue: "CustomKeyStoreNotFoundException")
        public static let dependencyTimeout = Name(rawValue: "DependencyTimeoutException")
        public static let disabled = Name(rawValue: "DisabledException")
        public static let dryRunOperation = Name(rawValue: "DryRunOperationException")
        public static let expiredImportToken = Name(rawValue: "ExpiredImportTokenException")
        public static let incorrectKey = Name(rawValue: "IncorrectKeyException")
        public static let incorrectKeyMaterial = Name(rawValue: "IncorrectKeyMaterialException")
        public static let invalidAliasName = Name(rawValue: "InvalidAliasNameException")
        public static let invalidArn = Name(rawValue: "InvalidArnException")
        public static let invalidGrantId = Name(rawValue: "InvalidGrantIdException")
        public static let invalidGrantToken = Name(rawValue: "InvalidGrantTokenException")
        public static let invalidCiphertext = Name(rawValue: "InvalidCiphertextException")
        public static let invalidImportToken = Name(rawValue: "InvalidImportTokenException")
        public static let invalidKeyUsage = Name(rawValue: "InvalidKeyUsageException")
        public static let invalidMarker = Name(rawValue: "InvalidMarkerException")
        public static let keyUnavailable = Name(rawValue: "KeyUnavailableException")
        public static let kmsInternal = Name(rawValue: "KMSInternalException")
        public static let kmsInvalidMac = Name(rawValue: "KMSInvalidMacException")
        public static let kmsInvalidSignature = Name(rawValue: "KMSInvalidSignatureException")
        public static let kmsInvalidState = Name(rawValue: "KMSInvalidStateException")
        public static let limitExceeded = Name(rawValue: "LimitExceededException")
        public static let malformedPolicyDocument = Name(rawValue: "MalformedPolicyDocumentException")
        public static let notFound = Name(rawValue: "NotFoundException")
        /// Not in the KMS model's shapes, but what AWS answers for `alias/aws/` names.
        public static let notAuthorized = Name(rawValue: "NotAuthorizedException")
        public static let tag = Name(rawValue: "TagException")
        public static let unsupportedOperation = Name(rawValue: "UnsupportedOperationException")
        public static let validation = Name(rawValue: "ValidationException")
        /// The body is not the JSON the operation takes.
        public static let serialization = Name(rawValue: "SerializationException")
        public static let unknownOperation = Name(rawValue: "UnknownOperationException")
        /// Too many requests are waiting for the HSM; SDKs back off and retry.
        public static let throttling = Name(rawValue: "ThrottlingException")
        // Signature Version 4 authentication on the TCP listener, as AWS names them.
        public static let missingAuthenticationToken = Name(rawValue: "MissingAuthenticationTokenException")
        public static let incompleteSignature = Name(rawValue: "IncompleteSignatureException")
        public static let invalidSignature = Name(rawValue: "InvalidSignatureException")
        public static let unrecognizedClient = Name(rawValue: "UnrecognizedClientException")
    }

    public static func notFound(_ m: String) -> KMSError { .init(.notFound, m) }
    public static func validation(_ m: String) -> KMSError { .init(.validation, m) }
    public static func invalidState(_ m: String) -> KMSError { .init(.kmsInvalidState, m) }
    public static func unsupported(_ m: String) -> KMSError { .init(.unsupportedOperation, m) }
    public static func invalidKeyUsage(_ m: String) -> KMSError { .init(.invalidKeyUsage, m) }
    public static func internalError(_ m: String) -> KMSError { .init(.kmsInternal, m) }
    /// Deliberately uninformative: says nothing about which check failed.
    public static let invalidCiphertext = KMSError(.invalidCiphertext,
        "The ciphertext is invalid, or was made under another key, version or encryption context.")
}
