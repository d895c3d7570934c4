/// `CKM_*` mechanism types. A newtype with static constants so vendor
/// mechanisms (e.g. CloudHSM's) fit without a new case.
public struct MechanismType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let rsaPKCSKeyPairGen = MechanismType(rawValue: 0x0)
    public static let rsaPKCS = MechanismType(rawValue: 0x1)
    public static let rsaX509 = MechanismType(rawValue: 0x3)
    public static let rsaPKCSOAEP = MechanismType(rawValue: 0x9)
    public static let rsaPKCSPSS = MechanismType(rawValue: 0xD)
    public static let sha256RSAPKCS = MechanismType(rawValue: 0x40)
    public static let sha384RSAPKCS = MechanismType(rawValue: 0x41)
    public static let sha512RSAPKCS = MechanismType(rawValue: 0x42)
    public static let sha256RSAPKCSPSS = MechanismType(rawValue: 0x43)
    public static let sha384RSAPKCSPSS = MechanismType(rawValue: 0x44)
    public static let sha512RSAPKCSPSS = MechanismType(rawValue: 0x45)
    public static let sha1 = MechanismType(rawValue: 0x220)
    public static let sha1HMAC = MechanismType(rawValue: 0x221)
    public static let sha256 = MechanismType(rawValue: 0x250)
    public static let sha256HMAC = MechanismType(rawValue: 0x251)
    public static let sha224 = MechanismType(rawValue: 0x255)
    public static let sha224HMAC = MechanismType(rawValue: 0x256)
    public static let sha384 = MechanismType(rawValue: 0x260)
    public static let sha384HMAC = MechanismType(rawValue: 0x261)
    public static let sha512 = MechanismType(rawValue: 0x270)
    public static let sha512HMAC = MechanismType(rawValue: 0x271)
    public static let genericSecretKeyGen = MechanismType(rawValue: 0x350)
    public static let ecKeyPairGen = MechanismType(rawValue: 0x1040)
    public static let ecdsa = MechanismType(rawValue: 0x1041)
    public static let ecdsaSHA256 = MechanismType(rawValue: 0x1044)
    public static let ecdsaSHA384 = MechanismType(rawValue: 0x1045)
    public static let ecdsaSHA512 = MechanismType(rawValue: 0x1046)
    public static let ecdh1Derive = MechanismType(rawValue: 0x1050)
    public static let ecEdwardsKeyPairGen = MechanismType(rawValue: 0x1055)
    public static let eddsa = MechanismType(rawValue: 0x1057)
    public static let aesKeyGen = MechanismType(rawValue: 0x1080)
    public static let aesECB = MechanismType(rawValue: 0x1081)
    public static let aesGCM = MechanismType(rawValue: 0x1087)
    /// RFC 3394 AES key wrap.
    public static let aesKeyWrap = MechanismType(rawValue: 0x2109)
    /// RFC 5649 AES key wrap with padding, where SoftHSM2 and most v2.40 tokens put it.
    public static let aesKeyWrapPad = MechanismType(rawValue: 0x210A)
    /// The PKCS#11 v3.0 name for RFC 5649 (`CKM_AES_KEY_WRAP_KWP`).
    public static let aesKeyWrapKWP = MechanismType(rawValue: 0x210B)

    public var description: String {
        Self.names[self] ?? "CKM_0x" + String(rawValue, radix: 16, uppercase: true)
    }

    private static let names: [MechanismType: String] = [
        .rsaPKCSKeyPairGen: "CKM_RSA_PKCS_KEY_PAIR_GEN", .rsaPKCS: "CKM_RSA_PKCS", .rsaX509: "CKM_RSA_X_509",
        .rsaPKCSOAEP: "CKM_RSA_PKCS_OAEP", .rsaPKCSPSS: "CKM_RSA_PKCS_PSS",
        .sha256RSAPKCS: "CKM_SHA256_RSA_PKCS", .sha384RSAPKCS: "CKM_SHA384_RSA_PKCS",
        .sha512RSAPKCS: "CKM_SHA512_RSA_PKCS", .sha256RSAPKCSPSS: "CKM_SHA256_RSA_PKCS_PSS",
        .sha384RSAPKCSPSS: "CKM_SHA384_RSA_PKCS_PSS", .sha512RSAPKCSPSS: "CKM_SHA512_RSA_PKCS_PSS",
        .sha1: "CKM_SHA_1", .sha1HMAC: "CKM_SHA_1_HMAC", .sha224: "CKM_SHA224", .sha224HMAC: "CKM_SHA224_HMAC",
        .sha256: "CKM_SHA256", .sha256HMAC: "CKM_SHA256_HMAC", .sha384: "CKM_SHA384",
        .sha384HMAC: "CKM_SHA384_HMAC", .sha512: "CKM_SHA512", .sha512HMAC: "CKM_SHA512_HMAC",
        .genericSecretKeyGen: "CKM_GENERIC_SECRET_KEY_GEN", .ecKeyPairGen: "CKM_EC_KEY_PAIR_GEN",
        .ecdsa: "CKM_ECDSA", .ecdsaSHA256: "CKM_ECDSA_SHA256", .ecdsaSHA384: "CKM_ECDSA_SHA384",
        .ecdsaSHA512: "CKM_ECDSA_SHA512", .ecdh1Derive: "CKM_ECDH1_DERIVE", .ecEdwardsKeyPairGen: "CKM_EC_EDWARDS_KEY_PAIR_GEN",
        .eddsa: "CKM_EDDSA", .aesKeyGen: "CKM_AES_KEY_GEN", .aesECB: "CKM_AES_ECB", .aesGCM: "CKM_AES_GCM",
        .aesKeyWrap: "CKM_AES_KEY_WRAP", .aesKeyWrapPad: "CKM_AES_KEY_WRAP_PAD",
        .aesKeyWrapKWP: "CKM_AES_KEY_WRAP_KWP",
    ]
}

/// `CKG_MGF1_*` mask generation functions for OAEP and PSS.
public struct MaskGeneration: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let mgf1SHA1 = MaskGeneration(rawValue: 0x1)
    public static let mgf1SHA256 = MaskGeneration(rawValue: 0x2)
    public static let mgf1SHA384 = MaskGeneration(rawValue: 0x3)
    public static let mgf1SHA512 = MaskGeneration(rawValue: 0x4)
    public static let mgf1SHA224 = MaskGeneration(rawValue: 0x5)
}
