import CPKCS11

/// Reads a space-padded, fixed-width PKCS#11 text field.
func paddedString<T>(_ field: T) -> String {
    withUnsafeBytes(of: field) { raw in
        let bytes = raw.prefix { $0 != 0 }
        var s = String(decoding: bytes, as: UTF8.self)
        while s.last == " " { s.removeLast() }
        return s
    }
}

public struct Version: Hashable, Sendable, CustomStringConvertible {
    public let major: UInt8
    public let minor: UInt8
    init(_ v: CK_VERSION) { major = v.major; minor = v.minor }
    public var description: String { "\(major).\(minor)" }
}

/// `C_GetInfo`: the module itself.
public struct ModuleInfo: Sendable {
    public let cryptokiVersion: Version
    public let manufacturerID: String
    public let libraryDescription: String
    public let libraryVersion: Version
    init(_ i: CK_INFO) {
        cryptokiVersion = Version(i.cryptokiVersion)
        manufacturerID = paddedString(i.manufacturerID)
        libraryDescription = paddedString(i.libraryDescription)
        libraryVersion = Version(i.libraryVersion)
    }
}

/// `C_GetSlotInfo`.
public struct SlotInfo: Sendable {
    public let description: String
    public let manufacturerID: String
    public let isTokenPresent: Bool
    public let isRemovableDevice: Bool
    public let isHardwareSlot: Bool
    init(_ i: CK_SLOT_INFO) {
        description = paddedString(i.slotDescription)
        manufacturerID = paddedString(i.manufacturerID)
        isTokenPresent = i.flags & CK_FLAGS(CKF_TOKEN_PRESENT) != 0
        isRemovableDevice = i.flags & CK_FLAGS(CKF_REMOVABLE_DEVICE) != 0
        isHardwareSlot = i.flags & CK_FLAGS(CKF_HW_SLOT) != 0
    }
}

/// `C_GetTokenInfo`. Counts the token cannot report are nil
/// (`CK_UNAVAILABLE_INFORMATION`); "no limit" (`CK_EFFECTIVELY_INFINITE`) is nil too
/// for the maxima.
public struct TokenInfo: Sendable {
    public let label: String
    public let manufacturerID: String
    public let model: String
    public let serialNumber: String
    public let isInitialized: Bool
    public let isLoginRequired: Bool
    public let isUserPINInitialized: Bool
    public let hasRNG: Bool
    public let isWriteProtected: Bool
    public let isUserPINLocked: Bool
    public let isSOPINLocked: Bool
    public let maxSessionCount: Int?
    public let sessionCount: Int?
    public let maxRwSessionCount: Int?
    public let rwSessionCount: Int?
    public let minPINLength: Int
    public let maxPINLength: Int
    public let hardwareVersion: Version
    public let firmwareVersion: Version

    init(_ i: CK_TOKEN_INFO) {
        func has(_ flag: UInt) -> Bool { i.flags & CK_FLAGS(flag) != 0 }
        func count(_ v: CK_ULONG, zeroIsUnlimited: Bool = false) -> Int? {
            if v == unavailableInformation { return nil }
            if zeroIsUnlimited && v == CK_EFFECTIVELY_INFINITE { return nil }
            return Int(v)
        }
        label = paddedString(i.label)
        manufacturerID = paddedString(i.manufacturerID)
        model = paddedString(i.model)
        serialNumber = paddedString(i.serialNumber)
        isInitialized = has(CKF_TOKEN_INITIALIZED)
        isLoginRequired = has(CKF_LOGIN_REQUIRED)
        isUserPINInitialized = has(CKF_USER_PIN_INITIALIZED)
        hasRNG = has(CKF_RNG)
        isWriteProtected = has(CKF_WRITE_PROTECTED)
        isUserPINLocked = has(CKF_USER_PIN_LOCKED)
        isSOPINLocked = has(CKF_SO_PIN_LOCKED)
        maxSessionCount = count(i.ulMaxSessionCount, zeroIsUnlimited: true)
        sessionCount = count(i.ulSessionCount)
        maxRwSessionCount = count(i.ulMaxRwSessionCount, zeroIsUnlimited: true)
        rwSessionCount = count(i.ulRwSessionCount)
        minPINLength = Int(i.ulMinPinLen)
        maxPINLength = Int(i.ulMaxPinLen)
        hardwareVersion = Version(i.hardwareVersion)
        firmwareVersion = Version(i.firmwareVersion)
    }
}

/// `C_GetMechanismInfo`: key sizes (bits or bytes, as the mechanism defines)
/// and what the mechanism may be used for.
public struct MechanismInfo: Sendable, Hashable {
    public let minKeySize: Int
    public let maxKeySize: Int
    public let usage: Usage

    public struct Usage: OptionSet, Sendable, Hashable {
        public let rawValue: UInt
        public init(rawValue: UInt) { self.rawValue = rawValue }
        public static let hardware = Usage(rawValue: UInt(CKF_HW))
        public static let encrypt = Usage(rawValue: UInt(CKF_ENCRYPT))
        public static let decrypt = Usage(rawValue: UInt(CKF_DECRYPT))
        public static let digest = Usage(rawValue: UInt(CKF_DIGEST))
        public static let sign = Usage(rawValue: UInt(CKF_SIGN))
        public static let verify = Usage(rawValue: UInt(CKF_VERIFY))
        public static let generate = Usage(rawValue: UInt(CKF_GENERATE))
        public static let generateKeyPair = Usage(rawValue: UInt(CKF_GENERATE_KEY_PAIR))
        public static let wrap = Usage(rawValue: UInt(CKF_WRAP))
        public static let unwrap = Usage(rawValue: UInt(CKF_UNWRAP))
        public static let derive = Usage(rawValue: UInt(CKF_DERIVE))

        public var names: [String] {
            let all: [(Usage, String)] = [
                (.hardware, "hw"), (.encrypt, "encrypt"), (.decrypt, "decrypt"), (.digest, "digest"),
                (.sign, "sign"), (.verify, "verify"), (.generate, "generate"),
                (.generateKeyPair, "generate_key_pair"), (.wrap, "wrap"), (.unwrap, "unwrap"), (.derive, "derive"),
            ]
            return all.filter { contains($0.0) }.map(\.1)
        }
    }

    init(_ i: CK_MECHANISM_INFO) {
        minKeySize = Int(i.ulMinKeySize)
        maxKeySize = Int(i.ulMaxKeySize)
        usage = Usage(rawValue: UInt(i.flags))
    }
}

/// `CK_UNAVAILABLE_INFORMATION`, which Swift cannot import (it is a cast).
let unavailableInformation = CK_ULONG.max
