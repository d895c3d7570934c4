/// `CKA_*` attribute types, with the width their value has on the wire.
public struct AttributeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let `class` = AttributeType(rawValue: 0x0)
    public static let token = AttributeType(rawValue: 0x1)
    public static let `private` = AttributeType(rawValue: 0x2)
    public static let label = AttributeType(rawValue: 0x3)
    public static let application = AttributeType(rawValue: 0x10)
    public static let value = AttributeType(rawValue: 0x11)
    public static let keyType = AttributeType(rawValue: 0x100)
    public static let id = AttributeType(rawValue: 0x102)
    public static let sensitive = AttributeType(rawValue: 0x103)
    public static let encrypt = AttributeType(rawValue: 0x104)
    public static let decrypt = AttributeType(rawValue: 0x105)
    public static let wrap = AttributeType(rawValue: 0x106)
    public static let unwrap = AttributeType(rawValue: 0x107)
    public static let sign = AttributeType(rawValue: 0x108)
    public static let verify = AttributeType(rawValue: 0x10A)
    public static let derive = AttributeType(rawValue: 0x10C)
    public static let modulus = AttributeType(rawValue: 0x120)
    public static let modulusBits = AttributeType(rawValue: 0x121)
    public static let publicExponent = AttributeType(rawValue: 0x122)
    public static let privateExponent = AttributeType(rawValue: 0x123)
    public static let valueLength = AttributeType(rawValue: 0x161)
    public static let extractable = AttributeType(rawValue: 0x162)
    public static let local = AttributeType(rawValue: 0x163)
    public static let neverExtractable = AttributeType(rawValue: 0x164)
    public static let alwaysSensitive = AttributeType(rawValue: 0x165)
    public static let modifiable = AttributeType(rawValue: 0x170)
    public static let copyable = AttributeType(rawValue: 0x171)
    public static let destroyable = AttributeType(rawValue: 0x172)
    public static let ecParams = AttributeType(rawValue: 0x180)
    public static let ecPoint = AttributeType(rawValue: 0x181)
    public static let wrapWithTrusted = AttributeType(rawValue: 0x210)
    /// `CKF_ARRAY_ATTRIBUTE | 0x211`: what a key must be to be wrapped with this one.
    public static let wrapTemplate = AttributeType(rawValue: 0x4000_0211)
    /// `CKF_ARRAY_ATTRIBUTE | 0x212`: what every key unwrapped with this one is forced to be.
    public static let unwrapTemplate = AttributeType(rawValue: 0x4000_0212)

    public var description: String { Self.names[self] ?? "CKA_0x" + String(rawValue, radix: 16) }

    private static let names: [AttributeType: String] = [
        .class: "CKA_CLASS", .token: "CKA_TOKEN", .private: "CKA_PRIVATE", .label: "CKA_LABEL",
        .application: "CKA_APPLICATION", .value: "CKA_VALUE", .keyType: "CKA_KEY_TYPE", .id: "CKA_ID",
        .sensitive: "CKA_SENSITIVE", .encrypt: "CKA_ENCRYPT", .decrypt: "CKA_DECRYPT", .wrap: "CKA_WRAP",
        .unwrap: "CKA_UNWRAP", .sign: "CKA_SIGN", .verify: "CKA_VERIFY", .derive: "CKA_DERIVE",
        .modulus: "CKA_MODULUS", .modulusBits: "CKA_MODULUS_BITS", .publicExponent: "CKA_PUBLIC_EXPONENT",
        .privateExponent: "CKA_PRIVATE_EXPONENT",
        .valueLength: "CKA_VALUE_LEN", .extractable: "CKA_EXTRACTABLE", .local: "CKA_LOCAL",
        .neverExtractable: "CKA_NEVER_EXTRACTABLE", .alwaysSensitive: "CKA_ALWAYS_SENSITIVE",
        .modifiable: "CKA_MODIFIABLE", .copyable: "CKA_COPYABLE", .destroyable: "CKA_DESTROYABLE",
        .ecParams: "CKA_EC_PARAMS", .ecPoint: "CKA_EC_POINT", .wrapWithTrusted: "CKA_WRAP_WITH_TRUSTED",
        .wrapTemplate: "CKA_WRAP_TEMPLATE", .unwrapTemplate: "CKA_UNWRAP_TEMPLATE",
    ]
}
