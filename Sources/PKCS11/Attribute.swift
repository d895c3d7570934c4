/// One attribute of a template or of an object: its type and its value bytes
/// exactly as PKCS#11 carries them (`CK_BBOOL` is one byte, `CK_ULONG` is a
/// native-endian machine word).
public struct Attribute: Hashable, Sendable, CustomStringConvertible {
    public let type: AttributeType
    public let value: [UInt8]
    /// The attributes of an array attribute (`CKA_WRAP_TEMPLATE`,
    /// `CKA_UNWRAP_TEMPLATE`), laid out as a nested `CK_ATTRIBUTE` array.
    public let nested: [Attribute]?

    public init(_ type: AttributeType, bytes: [UInt8]) {
        self.type = type
        self.value = bytes
        self.nested = nil
    }

    /// An array attribute holding `template` (one level deep).
    public init(_ type: AttributeType, template: [Attribute]) {
        precondition(template.allSatisfy { $0.nested == nil }, "array attributes nest one level only")
        self.type = type
        self.value = []
        self.nested = template
    }

    public init(_ type: AttributeType, bool: Bool) {
        self.init(type, bytes: [bool ? 1 : 0])
    }

    public init(_ type: AttributeType, ulong: UInt) {
        self.init(type, bytes: withUnsafeBytes(of: ulong) { Array($0) })
    }

    public static func `class`(_ c: ObjectClass) -> Attribute { .init(.class, ulong: c.rawValue) }
    public static func keyType(_ k: KeyType) -> Attribute { .init(.keyType, ulong: k.rawValue) }
    public static func token(_ v: Bool) -> Attribute { .init(.token, bool: v) }
    public static func `private`(_ v: Bool) -> Attribute { .init(.private, bool: v) }
    public static func sensitive(_ v: Bool) -> Attribute { .init(.sensitive, bool: v) }
    public static func extractable(_ v: Bool) -> Attribute { .init(.extractable, bool: v) }
    public static func label(_ s: String) -> Attribute { .init(.label, bytes: Array(s.utf8)) }
    public static func id(_ bytes: [UInt8]) -> Attribute { .init(.id, bytes: bytes) }
    public static func value(_ bytes: [UInt8]) -> Attribute { .init(.value, bytes: bytes) }
    public static func valueLength(_ n: Int) -> Attribute { .init(.valueLength, ulong: UInt(n)) }
    public static func modulusBits(_ n: Int) -> Attribute { .init(.modulusBits, ulong: UInt(n)) }
    public static func modulus(_ bytes: [UInt8]) -> Attribute { .init(.modulus, bytes: bytes) }
    public static func publicExponent(_ bytes: [UInt8]) -> Attribute { .init(.publicExponent, bytes: bytes) }
    public static func ecParams(_ bytes: [UInt8]) -> Attribute { .init(.ecParams, bytes: bytes) }
    public static func ecPoint(_ bytes: [UInt8]) -> Attribute { .init(.ecPoint, bytes: bytes) }
    public static func wrapTemplate(_ template: [Attribute]) -> Attribute { .init(.wrapTemplate, template: template) }
    public static func unwrapTemplate(_ template: [Attribute]) -> Attribute { .init(.unwrapTemplate, template: template) }

    /// The value read as a `CK_BBOOL`; nil when it is not one byte.
    public var boolValue: Bool? { value.count == 1 ? value[0] != 0 : nil }

    /// The value read as a `CK_ULONG`; nil when it is not a machine word.
    public var ulongValue: UInt? {
        guard value.count == MemoryLayout<UInt>.size else { return nil }
        return value.withUnsafeBytes { $0.loadUnaligned(as: UInt.self) }
    }

    /// The value read as UTF-8 (labels).
    public var stringValue: String { String(decoding: value, as: UTF8.self) }

    /// Never prints the value: it may be key material.
    public var description: String { "\(type) (\(value.count) bytes)" }
}
