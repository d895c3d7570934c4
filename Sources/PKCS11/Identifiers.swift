/// Handles and identifiers the token hands out. Distinct types so that a
/// slot id can never be passed where an object handle is meant.
public struct SlotID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}

public struct ObjectHandle: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public var description: String { "object \(rawValue)" }
}

public struct SessionHandle: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
}

/// Who logs in: the security officer administers the token, the user uses keys.
public struct UserType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let securityOfficer = UserType(rawValue: 0)
    public static let user = UserType(rawValue: 1)
}

/// `CKO_*` object classes.
public struct ObjectClass: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let data = ObjectClass(rawValue: 0x0)
    public static let certificate = ObjectClass(rawValue: 0x1)
    public static let publicKey = ObjectClass(rawValue: 0x2)
    public static let privateKey = ObjectClass(rawValue: 0x3)
    public static let secretKey = ObjectClass(rawValue: 0x4)

    public var name: String {
        switch self {
        case .data: "data"
        case .certificate: "certificate"
        case .publicKey: "publicKey"
        case .privateKey: "privateKey"
        case .secretKey: "secretKey"
        default: "0x" + String(rawValue, radix: 16)
        }
    }
}

/// `CKK_*` key types.
public struct KeyType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let rsa = KeyType(rawValue: 0x0)
    public static let ec = KeyType(rawValue: 0x3)
    public static let genericSecret = KeyType(rawValue: 0x10)
    public static let aes = KeyType(rawValue: 0x1F)
    public static let sha256HMAC = KeyType(rawValue: 0x2B)
    public static let ecEdwards = KeyType(rawValue: 0x40)

    public var name: String {
        switch self {
        case .rsa: "RSA"
        case .ec: "EC"
        case .genericSecret: "generic secret"
        case .aes: "AES"
        case .sha256HMAC: "SHA256-HMAC"
        case .ecEdwards: "EC Edwards"
        default: "0x" + String(rawValue, radix: 16)
        }
    }
}
