import CPKCS11
import SwiftASN1

/// What a key may be used for. Every flag is written explicitly into the
/// template, true or false, so a token default never grants a use silently.
public struct KeyUsage: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let encrypt = KeyUsage(rawValue: 1 << 0)
    public static let decrypt = KeyUsage(rawValue: 1 << 1)
    public static let sign = KeyUsage(rawValue: 1 << 2)
    public static let verify = KeyUsage(rawValue: 1 << 3)
    public static let wrap = KeyUsage(rawValue: 1 << 4)
    public static let unwrap = KeyUsage(rawValue: 1 << 5)
    public static let derive = KeyUsage(rawValue: 1 << 6)

    public static let encryptDecrypt: KeyUsage = [.encrypt, .decrypt]
    public static let signVerify: KeyUsage = [.sign, .verify]
    public static let wrapUnwrap: KeyUsage = [.wrap, .unwrap]

    func attributes(_ allowed: [(KeyUsage, AttributeType)]) -> [Attribute] {
        allowed.map { Attribute($0.1, bool: contains($0.0)) }
    }
    var secretKeyAttributes: [Attribute] {
        attributes([(.encrypt, .encrypt), (.decrypt, .decrypt), (.sign, .sign), (.verify, .verify),
                    (.wrap, .wrap), (.unwrap, .unwrap), (.derive, .derive)])
    }
    var publicKeyAttributes: [Attribute] {
        attributes([(.encrypt, .encrypt), (.verify, .verify), (.wrap, .wrap), (.derive, .derive)])
    }
    var privateKeyAttributes: [Attribute] {
        attributes([(.decrypt, .decrypt), (.sign, .sign), (.unwrap, .unwrap), (.derive, .derive)])
    }
}

/// How a new key is stored. The defaults are the strict ones: a session
/// object, private, sensitive and never extractable.
public struct KeyOptions: Sendable {
    public var usage: KeyUsage
    public var token: Bool = false
    public var isPrivate: Bool = true
    public var sensitive: Bool = true
    public var extractable: Bool = false
    public var label: String?
    public var id: [UInt8]?
    /// Further attributes, appended last (for vendor attributes).
    public var extra: [Attribute] = []

    public init(usage: KeyUsage, token: Bool = false, isPrivate: Bool = true, sensitive: Bool = true,
                extractable: Bool = false, label: String? = nil, id: [UInt8]? = nil, extra: [Attribute] = []) {
        self.usage = usage
        self.token = token
        self.isPrivate = isPrivate
        self.sensitive = sensitive
        self.extractable = extractable
        self.label = label
        self.id = id
        self.extra = extra
    }

    var common: [Attribute] {
        var a: [Attribute] = [.token(token)]
        if let label { a.append(.label(label)) }
        if let id { a.append(.id(id)) }
        return a
    }

    var secret: [Attribute] {
        [.private(isPrivate), .sensitive(sensitive), .extractable(extractable)]
    }
}

/// Symmetric keys the token generates.
public enum SecretKeySpec: Sendable, Hashable {
    case aes(bits: Int)
    /// A generic secret, the key type HMAC uses. `bytes` is the key length.
    case genericSecret(bytes: Int)

    var mechanism: Mechanism {
        switch self {
        case .aes: .aesKeyGen
        case .genericSecret: .genericSecretKeyGen
        }
    }

    var keyType: KeyType {
        switch self {
        case .aes: .aes
        case .genericSecret: .genericSecret
        }
    }

    var valueLength: Int {
        switch self {
        case .aes(let bits): bits / 8
        case .genericSecret(let bytes): bytes
        }
    }
}

/// Asymmetric key pairs the token generates.
public enum KeyPairSpec: Sendable, Hashable {
    case rsa(bits: Int)
    case ec(NamedCurve)
    case ed25519

    var mechanism: Mechanism {
        switch self {
        case .rsa: .rsaKeyPairGen
        case .ec: .ecKeyPairGen
        case .ed25519: .ecEdwardsKeyPairGen
        }
    }

    var keyType: KeyType {
        switch self {
        case .rsa: .rsa
        case .ec: .ec
        case .ed25519: .ecEdwards
        }
    }

    var publicParameters: [Attribute] {
        switch self {
        case .rsa(let bits): [.modulusBits(bits), .publicExponent([0x01, 0x00, 0x01])]
        case .ec(let curve): [.ecParams(curve.ecParameters)]
        case .ed25519: [.ecParams(Ed25519Curve.ecParameters)]
        }
    }
}

public struct KeyPair: Sendable, Hashable {
    public let publicKey: ObjectHandle
    public let privateKey: ObjectHandle
}

extension Session {
    /// `C_GenerateKey` with an explicit template built from `options`.
    public func generateKey(_ spec: SecretKeySpec, _ options: KeyOptions) throws -> ObjectHandle {
        let template: [Attribute] = [.class(.secretKey), .keyType(spec.keyType), .valueLength(spec.valueLength)]
            + options.common + options.secret + options.usage.secretKeyAttributes + options.extra
        var object: CK_OBJECT_HANDLE = 0
        try spec.mechanism.withCMechanism { m in
            try withCTemplate(template) { t, n in try check(f.C_GenerateKey(h, m, t, n, &object), .generateKey) }
        }
        return ObjectHandle(rawValue: UInt(object))
    }

    /// `C_GenerateKeyPair`. The public half gets the public uses of
    /// `options.usage`, the private half the private uses and the protections.
    public func generateKeyPair(_ spec: KeyPairSpec, _ options: KeyOptions) throws -> KeyPair {
        let publicTemplate: [Attribute] = [.class(.publicKey), .keyType(spec.keyType)] + spec.publicParameters
            + options.common + [.private(false)] + options.usage.publicKeyAttributes
        let privateTemplate: [Attribute] = [.class(.privateKey), .keyType(spec.keyType)]
            + options.common + options.secret + options.usage.privateKeyAttributes + options.extra
        var pub: CK_OBJECT_HANDLE = 0
        var priv: CK_OBJECT_HANDLE = 0
        try spec.mechanism.withCMechanism { m in
            try withCTemplate(publicTemplate) { pt, pn in
                try withCTemplate(privateTemplate) { st, sn in
                    try check(f.C_GenerateKeyPair(h, m, pt, pn, st, sn, &pub, &priv), .generateKeyPair)
                }
            }
        }
        return KeyPair(publicKey: ObjectHandle(rawValue: UInt(pub)), privateKey: ObjectHandle(rawValue: UInt(priv)))
    }

    /// Imports a secret key value (`C_CreateObject`), e.g. test-vector keys.
    public func importSecretKey(_ keyType: KeyType, value: [UInt8], _ options: KeyOptions) throws -> ObjectHandle {
        try createObject([.class(.secretKey), .keyType(keyType), .value(value)]
            + options.common + options.secret + options.usage.secretKeyAttributes + options.extra)
    }

    /// Imports an RSA public key from its modulus and exponent (big-endian).
    public func importRSAPublicKey(modulus: [UInt8], publicExponent: [UInt8], _ options: KeyOptions) throws -> ObjectHandle {
        try createObject([.class(.publicKey), .keyType(.rsa), .modulus(modulus), .publicExponent(publicExponent)]
            + options.common + [.private(false)] + options.usage.publicKeyAttributes)
    }

    /// Imports an EC public key: `point` is the uncompressed SEC1 point
    /// (`04 || x || y`), stored DER-wrapped in an OCTET STRING as PKCS#11 v2.40 says.
    public func importECPublicKey(curve: NamedCurve, point: [UInt8], _ options: KeyOptions) throws -> ObjectHandle {
        try createObject([.class(.publicKey), .keyType(.ec), .ecParams(curve.ecParameters),
                          .ecPoint(derEncoded(ASN1OctetString(contentBytes: point[...])))]
            + options.common + [.private(false)] + options.usage.publicKeyAttributes)
    }

    /// Imports an Ed25519 public key (32 raw bytes).
    public func importEd25519PublicKey(_ raw: [UInt8], _ options: KeyOptions) throws -> ObjectHandle {
        try createObject([.class(.publicKey), .keyType(.ecEdwards), .ecParams(Ed25519Curve.ecParameters),
                          .ecPoint(derEncoded(ASN1OctetString(contentBytes: raw[...])))]
            + options.common + [.private(false)] + options.usage.publicKeyAttributes)
    }
}
