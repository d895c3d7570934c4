/// A failed PKCS#11 call: which function, and what it returned.
/// Prints as `C_Login: CKR_PIN_INCORRECT (0xA0)`.
public struct PKCS11Error: Error, Hashable, Sendable, CustomStringConvertible {
    public let function: Function
    public let code: ReturnCode

    public init(function: Function, code: ReturnCode) {
        self.function = function
        self.code = code
    }

    public var description: String { "\(function.rawValue): \(code)" }

    /// The session is gone and must be replaced (the pool does this).
    public var isSessionLost: Bool {
        [.sessionHandleInvalid, .sessionClosed, .deviceRemoved, .tokenNotPresent].contains(code)
    }

    /// A PIN was wrong, malformed, expired or locked.
    public var isPINFailure: Bool {
        [.pinIncorrect, .pinInvalid, .pinLenRange, .pinExpired, .pinLocked].contains(code)
    }

    /// The name of a PKCS#11 function, used to say which call failed.
    public struct Function: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let dlopen = Function(rawValue: "dlopen")
        public static let getFunctionList = Function(rawValue: "C_GetFunctionList")
        public static let initialize = Function(rawValue: "C_Initialize")
        public static let getInfo = Function(rawValue: "C_GetInfo")
        public static let getSlotList = Function(rawValue: "C_GetSlotList")
        public static let getSlotInfo = Function(rawValue: "C_GetSlotInfo")
        public static let getTokenInfo = Function(rawValue: "C_GetTokenInfo")
        public static let getMechanismList = Function(rawValue: "C_GetMechanismList")
        public static let getMechanismInfo = Function(rawValue: "C_GetMechanismInfo")
        public static let initToken = Function(rawValue: "C_InitToken")
        public static let initPIN = Function(rawValue: "C_InitPIN")
        public static let setPIN = Function(rawValue: "C_SetPIN")
        public static let openSession = Function(rawValue: "C_OpenSession")
        public static let closeSession = Function(rawValue: "C_CloseSession")
        public static let closeAllSessions = Function(rawValue: "C_CloseAllSessions")
        public static let getSessionInfo = Function(rawValue: "C_GetSessionInfo")
        public static let login = Function(rawValue: "C_Login")
        public static let logout = Function(rawValue: "C_Logout")
        public static let createObject = Function(rawValue: "C_CreateObject")
        public static let copyObject = Function(rawValue: "C_CopyObject")
        public static let destroyObject = Function(rawValue: "C_DestroyObject")
        public static let getAttributeValue = Function(rawValue: "C_GetAttributeValue")
        public static let setAttributeValue = Function(rawValue: "C_SetAttributeValue")
        public static let findObjectsInit = Function(rawValue: "C_FindObjectsInit")
        public static let findObjects = Function(rawValue: "C_FindObjects")
        public static let findObjectsFinal = Function(rawValue: "C_FindObjectsFinal")
        public static let encryptInit = Function(rawValue: "C_EncryptInit")
        public static let encrypt = Function(rawValue: "C_Encrypt")
        public static let decryptInit = Function(rawValue: "C_DecryptInit")
        public static let decrypt = Function(rawValue: "C_Decrypt")
        public static let digestInit = Function(rawValue: "C_DigestInit")
        public static let digest = Function(rawValue: "C_Digest")
        public static let signInit = Function(rawValue: "C_SignInit")
        public static let sign = Function(rawValue: "C_Sign")
        public static let verifyInit = Function(rawValue: "C_VerifyInit")
        public static let verify = Function(rawValue: "C_Verify")
        public static let generateKey = Function(rawValue: "C_GenerateKey")
        public static let generateKeyPair = Function(rawValue: "C_GenerateKeyPair")
        public static let wrapKey = Function(rawValue: "C_WrapKey")
        public static let unwrapKey = Function(rawValue: "C_UnwrapKey")
        public static let deriveKey = Function(rawValue: "C_DeriveKey")
        public static let generateRandom = Function(rawValue: "C_GenerateRandom")
    }
}

/// Errors of this layer that are not a PKCS#11 return code: bad input, an
/// answer from the token we refuse to trust, a token that cannot be found.
public struct PKCS11UsageError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

@inline(__always)
func check(_ rv: UInt, _ function: PKCS11Error.Function) throws(PKCS11Error) {
    guard rv == 0 else { throw PKCS11Error(function: function, code: ReturnCode(rawValue: rv)) }
}
