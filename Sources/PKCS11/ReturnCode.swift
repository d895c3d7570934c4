import CPKCS11

/// A PKCS#11 return value (`CK_RV`). A newtype rather than an enum so that
/// vendor-defined codes (`CKR_VENDOR_DEFINED` and above) fit without a new case.
public struct ReturnCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    init(_ rv: CK_RV) { self.rawValue = UInt(rv) }

    public static let ok = ReturnCode(rawValue: 0x0)
    public static let cancel = ReturnCode(rawValue: 0x1)
    public static let hostMemory = ReturnCode(rawValue: 0x2)
    public static let slotIDInvalid = ReturnCode(rawValue: 0x3)
    public static let generalError = ReturnCode(rawValue: 0x5)
    public static let functionFailed = ReturnCode(rawValue: 0x6)
    public static let argumentsBad = ReturnCode(rawValue: 0x7)
    public static let attributeReadOnly = ReturnCode(rawValue: 0x10)
    public static let attributeSensitive = ReturnCode(rawValue: 0x11)
    public static let attributeTypeInvalid = ReturnCode(rawValue: 0x12)
    public static let attributeValueInvalid = ReturnCode(rawValue: 0x13)
    public static let actionProhibited = ReturnCode(rawValue: 0x1B)
    public static let dataInvalid = ReturnCode(rawValue: 0x20)
    public static let dataLenRange = ReturnCode(rawValue: 0x21)
    public static let deviceError = ReturnCode(rawValue: 0x30)
    public static let deviceMemory = ReturnCode(rawValue: 0x31)
    public static let deviceRemoved = ReturnCode(rawValue: 0x32)
    public static let encryptedDataInvalid = ReturnCode(rawValue: 0x40)
    public static let encryptedDataLenRange = ReturnCode(rawValue: 0x41)
    public static let functionCanceled = ReturnCode(rawValue: 0x50)
    public static let functionNotSupported = ReturnCode(rawValue: 0x54)
    public static let keyHandleInvalid = ReturnCode(rawValue: 0x60)
    public static let keySizeRange = ReturnCode(rawValue: 0x62)
    public static let keyTypeInconsistent = ReturnCode(rawValue: 0x63)
    public static let keyFunctionNotPermitted = ReturnCode(rawValue: 0x68)
    public static let keyNotWrappable = ReturnCode(rawValue: 0x69)
    public static let keyUnextractable = ReturnCode(rawValue: 0x6A)
    public static let mechanismInvalid = ReturnCode(rawValue: 0x70)
    public static let mechanismParamInvalid = ReturnCode(rawValue: 0x71)
    public static let objectHandleInvalid = ReturnCode(rawValue: 0x82)
    public static let operationActive = ReturnCode(rawValue: 0x90)
    public static let operationNotInitialized = ReturnCode(rawValue: 0x91)
    public static let pinIncorrect = ReturnCode(rawValue: 0xA0)
    public static let pinInvalid = ReturnCode(rawValue: 0xA1)
    public static let pinLenRange = ReturnCode(rawValue: 0xA2)
    public static let pinExpired = ReturnCode(rawValue: 0xA3)
    public static let pinLocked = ReturnCode(rawValue: 0xA4)
    public static let sessionClosed = ReturnCode(rawValue: 0xB0)
    public static let sessionCount = ReturnCode(rawValue: 0xB1)
    public static let sessionHandleInvalid = ReturnCode(rawValue: 0xB3)
    public static let sessionParallelNotSupported = ReturnCode(rawValue: 0xB4)
    public static let sessionReadOnly = ReturnCode(rawValue: 0xB5)
    public static let sessionExists = ReturnCode(rawValue: 0xB6)
    public static let sessionReadOnlyExists = ReturnCode(rawValue: 0xB7)
    public static let sessionReadWriteSOExists = ReturnCode(rawValue: 0xB8)
    public static let signatureInvalid = ReturnCode(rawValue: 0xC0)
    public static let signatureLenRange = ReturnCode(rawValue: 0xC1)
    public static let templateIncomplete = ReturnCode(rawValue: 0xD0)
    public static let templateInconsistent = ReturnCode(rawValue: 0xD1)
    public static let tokenNotPresent = ReturnCode(rawValue: 0xE0)
    public static let tokenNotRecognized = ReturnCode(rawValue: 0xE1)
    public static let tokenWriteProtected = ReturnCode(rawValue: 0xE2)
    public static let unwrappingKeyHandleInvalid = ReturnCode(rawValue: 0xF0)
    public static let unwrappingKeySizeRange = ReturnCode(rawValue: 0xF1)
    public static let unwrappingKeyTypeInconsistent = ReturnCode(rawValue: 0xF2)
    public static let userAlreadyLoggedIn = ReturnCode(rawValue: 0x100)
    public static let userNotLoggedIn = ReturnCode(rawValue: 0x101)
    public static let userPINNotInitialized = ReturnCode(rawValue: 0x102)
    public static let userTypeInvalid = ReturnCode(rawValue: 0x103)
    public static let userAnotherAlreadyLoggedIn = ReturnCode(rawValue: 0x104)
    public static let userTooManyTypes = ReturnCode(rawValue: 0x105)
    public static let wrappedKeyInvalid = ReturnCode(rawValue: 0x110)
    public static let wrappedKeyLenRange = ReturnCode(rawValue: 0x112)
    public static let wrappingKeyHandleInvalid = ReturnCode(rawValue: 0x113)
    public static let wrappingKeySizeRange = ReturnCode(rawValue: 0x114)
    public static let wrappingKeyTypeInconsistent = ReturnCode(rawValue: 0x115)
    public static let randomSeedNotSupported = ReturnCode(rawValue: 0x120)
    public static let randomNoRNG = ReturnCode(rawValue: 0x121)
    public static let domainParamsInvalid = ReturnCode(rawValue: 0x130)
    public static let curveNotSupported = ReturnCode(rawValue: 0x140)
    public static let bufferTooSmall = ReturnCode(rawValue: 0x150)
    public static let savedStateInvalid = ReturnCode(rawValue: 0x160)
    public static let informationSensitive = ReturnCode(rawValue: 0x170)
    public static let stateUnsaveable = ReturnCode(rawValue: 0x180)
    public static let cryptokiNotInitialized = ReturnCode(rawValue: 0x190)
    public static let cryptokiAlreadyInitialized = ReturnCode(rawValue: 0x191)
    public static let mutexBad = ReturnCode(rawValue: 0x1A0)
    public static let mutexNotLocked = ReturnCode(rawValue: 0x1A1)
    public static let functionRejected = ReturnCode(rawValue: 0x200)
    public static let vendorDefined = ReturnCode(rawValue: 0x8000_0000)

    /// The name the PKCS#11 specification gives this code, e.g. `CKR_PIN_INCORRECT`.
    public var name: String {
        if let name = Self.names[self] { return name }
        return rawValue >= Self.vendorDefined.rawValue ? "CKR_VENDOR_DEFINED" : "CKR_UNKNOWN"
    }

    public var description: String { "\(name) (0x\(String(rawValue, radix: 16, uppercase: true)))" }

    private static let names: [ReturnCode: String] = [
        .ok: "CKR_OK", .cancel: "CKR_CANCEL", .hostMemory: "CKR_HOST_MEMORY",
        .slotIDInvalid: "CKR_SLOT_ID_INVALID", .generalError: "CKR_GENERAL_ERROR",
        .functionFailed: "CKR_FUNCTION_FAILED", .argumentsBad: "CKR_ARGUMENTS_BAD",
        .attributeReadOnly: "CKR_ATTRIBUTE_READ_ONLY", .attributeSensitive: "CKR_ATTRIBUTE_SENSITIVE",
        .attributeTypeInvalid: "CKR_ATTRIBUTE_TYPE_INVALID", .attributeValueInvalid: "CKR_ATTRIBUTE_VALUE_INVALID",
        .actionProhibited: "CKR_ACTION_PROHIBITED", .dataInvalid: "CKR_DATA_INVALID",
        .dataLenRange: "CKR_DATA_LEN_RANGE", .deviceError: "CKR_DEVICE_ERROR",
        .deviceMemory: "CKR_DEVICE_MEMORY", .deviceRemoved: "CKR_DEVICE_REMOVED",
        .encryptedDataInvalid: "CKR_ENCRYPTED_DATA_INVALID", .encryptedDataLenRange: "CKR_ENCRYPTED_DATA_LEN_RANGE",
        .functionCanceled: "CKR_FUNCTION_CANCELED", .functionNotSupported: "CKR_FUNCTION_NOT_SUPPORTED",
        .keyHandleInvalid: "CKR_KEY_HANDLE_INVALID", .keySizeRange: "CKR_KEY_SIZE_RANGE",
        .keyTypeInconsistent: "CKR_KEY_TYPE_INCONSISTENT", .keyFunctionNotPermitted: "CKR_KEY_FUNCTION_NOT_PERMITTED",
        .keyNotWrappable: "CKR_KEY_NOT_WRAPPABLE", .keyUnextractable: "CKR_KEY_UNEXTRACTABLE",
        .mechanismInvalid: "CKR_MECHANISM_INVALID", .mechanismParamInvalid: "CKR_MECHANISM_PARAM_INVALID",
        .objectHandleInvalid: "CKR_OBJECT_HANDLE_INVALID", .operationActive: "CKR_OPERATION_ACTIVE",
        .operationNotInitialized: "CKR_OPERATION_NOT_INITIALIZED", .pinIncorrect: "CKR_PIN_INCORRECT",
        .pinInvalid: "CKR_PIN_INVALID", .pinLenRange: "CKR_PIN_LEN_RANGE", .pinExpired: "CKR_PIN_EXPIRED",
        .pinLocked: "CKR_PIN_LOCKED", .sessionClosed: "CKR_SESSION_CLOSED", .sessionCount: "CKR_SESSION_COUNT",
        .sessionHandleInvalid: "CKR_SESSION_HANDLE_INVALID",
        .sessionParallelNotSupported: "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        .sessionReadOnly: "CKR_SESSION_READ_ONLY", .sessionExists: "CKR_SESSION_EXISTS",
        .sessionReadOnlyExists: "CKR_SESSION_READ_ONLY_EXISTS",
        .sessionReadWriteSOExists: "CKR_SESSION_READ_WRITE_SO_EXISTS",
        .signatureInvalid: "CKR_SIGNATURE_INVALID", .signatureLenRange: "CKR_SIGNATURE_LEN_RANGE",
        .templateIncomplete: "CKR_TEMPLATE_INCOMPLETE", .templateInconsistent: "CKR_TEMPLATE_INCONSISTENT",
        .tokenNotPresent: "CKR_TOKEN_NOT_PRESENT", .tokenNotRecognized: "CKR_TOKEN_NOT_RECOGNIZED",
        .tokenWriteProtected: "CKR_TOKEN_WRITE_PROTECTED",
        .unwrappingKeyHandleInvalid: "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        .unwrappingKeySizeRange: "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        .unwrappingKeyTypeInconsistent: "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        .userAlreadyLoggedIn: "CKR_USER_ALREADY_LOGGED_IN", .userNotLoggedIn: "CKR_USER_NOT_LOGGED_IN",
        .userPINNotInitialized: "CKR_USER_PIN_NOT_INITIALIZED", .userTypeInvalid: "CKR_USER_TYPE_INVALID",
        .userAnotherAlreadyLoggedIn: "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        .userTooManyTypes: "CKR_USER_TOO_MANY_TYPES", .wrappedKeyInvalid: "CKR_WRAPPED_KEY_INVALID",
        .wrappedKeyLenRange: "CKR_WRAPPED_KEY_LEN_RANGE",
        .wrappingKeyHandleInvalid: "CKR_WRAPPING_KEY_HANDLE_INVALID",
        .wrappingKeySizeRange: "CKR_WRAPPING_KEY_SIZE_RANGE",
        .wrappingKeyTypeInconsistent: "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        .randomSeedNotSupported: "CKR_RANDOM_SEED_NOT_SUPPORTED", .randomNoRNG: "CKR_RANDOM_NO_RNG",
        .domainParamsInvalid: "CKR_DOMAIN_PARAMS_INVALID", .curveNotSupported: "CKR_CURVE_NOT_SUPPORTED",
        .bufferTooSmall: "CKR_BUFFER_TOO_SMALL", .savedStateInvalid: "CKR_SAVED_STATE_INVALID",
        .informationSensitive: "CKR_INFORMATION_SENSITIVE", .stateUnsaveable: "CKR_STATE_UNSAVEABLE",
        .cryptokiNotInitialized: "CKR_CRYPTOKI_NOT_INITIALIZED",
        .cryptokiAlreadyInitialized: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        .mutexBad: "CKR_MUTEX_BAD", .mutexNotLocked: "CKR_MUTEX_NOT_LOCKED",
        .functionRejected: "CKR_FUNCTION_REJECTED",
    ]
}
