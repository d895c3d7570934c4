import CPKCS11

/// A mechanism and its typed parameters. Parameters are never raw bytes in
/// the API; the C structs are built only inside `withCMechanism`.
public struct Mechanism: Sendable, CustomStringConvertible {
    public let type: MechanismType
    public let parameter: Parameter

    public enum Parameter: Sendable {
        case none
        case gcm(GCMParameters)
        case oaep(OAEPParameters)
        case pss(PSSParameters)
        /// `CK_ECDH1_DERIVE_PARAMS` with `CKD_NULL`: the peer's public point
        /// (uncompressed X9.62 octets), no shared data, no KDF.
        case ecdh1(peerPoint: [UInt8])
    }

    public init(_ type: MechanismType, _ parameter: Parameter = .none) {
        self.type = type
        self.parameter = parameter
    }

    public var description: String { type.description }

    // Key generation.
    public static let aesKeyGen = Mechanism(.aesKeyGen)
    public static let genericSecretKeyGen = Mechanism(.genericSecretKeyGen)
    public static let rsaKeyPairGen = Mechanism(.rsaPKCSKeyPairGen)
    public static let ecKeyPairGen = Mechanism(.ecKeyPairGen)
    public static let ecEdwardsKeyPairGen = Mechanism(.ecEdwardsKeyPairGen)

    // Encryption.
    public static func aesGCM(_ p: GCMParameters) -> Mechanism { Mechanism(.aesGCM, .gcm(p)) }
    public static func rsaOAEP(_ p: OAEPParameters) -> Mechanism { Mechanism(.rsaPKCSOAEP, .oaep(p)) }
    /// Raw RSA (`CKM_RSA_X_509`): no padding. Only for callers that remove
    /// padding themselves, in constant time.
    public static let rsaX509Raw = Mechanism(.rsaX509)

    // Signatures and MACs.
    public static let ecdsa = Mechanism(.ecdsa)
    public static let eddsa = Mechanism(.eddsa)
    /// RSASSA-PKCS1-v1_5 over a caller-built DigestInfo.
    public static let rsaPKCS = Mechanism(.rsaPKCS)
    public static let sha256RSAPKCS = Mechanism(.sha256RSAPKCS)
    public static let sha384RSAPKCS = Mechanism(.sha384RSAPKCS)
    public static let sha512RSAPKCS = Mechanism(.sha512RSAPKCS)
    public static func rsaPKCSPSS(_ p: PSSParameters) -> Mechanism { Mechanism(.rsaPKCSPSS, .pss(p)) }
    public static func sha256RSAPKCSPSS() -> Mechanism { Mechanism(.sha256RSAPKCSPSS, .pss(.sha256)) }
    public static func sha384RSAPKCSPSS() -> Mechanism { Mechanism(.sha384RSAPKCSPSS, .pss(.sha384)) }
    public static func sha512RSAPKCSPSS() -> Mechanism { Mechanism(.sha512RSAPKCSPSS, .pss(.sha512)) }
    public static let sha224HMAC = Mechanism(.sha224HMAC)
    public static let sha256HMAC = Mechanism(.sha256HMAC)
    public static let sha384HMAC = Mechanism(.sha384HMAC)
    public static let sha512HMAC = Mechanism(.sha512HMAC)

    // Key agreement: the raw ECDH shared secret (the x coordinate), no KDF.
    public static func ecdh1Derive(peerPoint: [UInt8]) -> Mechanism { Mechanism(.ecdh1Derive, .ecdh1(peerPoint: peerPoint)) }

    // Digests.
    public static let sha1 = Mechanism(.sha1)
    public static let sha256 = Mechanism(.sha256)
    public static let sha384 = Mechanism(.sha384)
    public static let sha512 = Mechanism(.sha512)

    /// Builds the C mechanism (and its parameter struct) for the duration of `body`.
    func withCMechanism<R>(_ body: (UnsafeMutablePointer<CK_MECHANISM>) throws -> R) rethrows -> R {
        var mech = CK_MECHANISM()
        mech.mechanism = CK_MECHANISM_TYPE(type.rawValue)
        switch parameter {
        case .none:
            return try body(&mech)
        case .gcm(let p):
            return try p.iv.withUnsafeBufferPointer { iv in
                try p.aad.withUnsafeBufferPointer { aad in
                    var params = CK_GCM_PARAMS()
                    params.pIv = UnsafeMutablePointer(mutating: iv.baseAddress)
                    params.ulIvLen = CK_ULONG(iv.count)
                    params.ulIvBits = CK_ULONG(iv.count * 8)
                    params.pAAD = UnsafeMutablePointer(mutating: aad.baseAddress)
                    params.ulAADLen = CK_ULONG(aad.count)
                    params.ulTagBits = CK_ULONG(p.tagBits)
                    return try withUnsafeMutablePointer(to: &params) { pp in
                        mech.pParameter = UnsafeMutableRawPointer(pp)
                        mech.ulParameterLen = CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size)
                        return try body(&mech)
                    }
                }
            }
        case .oaep(let p):
            return try p.label.withUnsafeBufferPointer { label in
                var params = CK_RSA_PKCS_OAEP_PARAMS()
                params.hashAlg = CK_MECHANISM_TYPE(p.hash.rawValue)
                params.mgf = CK_RSA_PKCS_MGF_TYPE(p.mgf.rawValue)
                params.source = CK_RSA_PKCS_OAEP_SOURCE_TYPE(CKZ_DATA_SPECIFIED)
                params.pSourceData = label.isEmpty ? nil : UnsafeMutableRawPointer(mutating: label.baseAddress)
                params.ulSourceDataLen = CK_ULONG(label.count)
                return try withUnsafeMutablePointer(to: &params) { pp in
                    mech.pParameter = UnsafeMutableRawPointer(pp)
                    mech.ulParameterLen = CK_ULONG(MemoryLayout<CK_RSA_PKCS_OAEP_PARAMS>.size)
                    return try body(&mech)
                }
            }
        case .ecdh1(let point):
            return try point.withUnsafeBufferPointer { point in
                var params = CK_ECDH1_DERIVE_PARAMS()
                params.kdf = ck_ec_kdf_t(CKD_NULL)
                params.pSharedData = nil
                params.ulSharedDataLen = 0
                params.pPublicData = UnsafeMutablePointer(mutating: point.baseAddress)
                params.ulPublicDataLen = CK_ULONG(point.count)
                return try withUnsafeMutablePointer(to: &params) { pp in
                    mech.pParameter = UnsafeMutableRawPointer(pp)
                    mech.ulParameterLen = CK_ULONG(MemoryLayout<CK_ECDH1_DERIVE_PARAMS>.size)
                    return try body(&mech)
                }
            }
        case .pss(let p):
            var params = CK_RSA_PKCS_PSS_PARAMS()
            params.hashAlg = CK_MECHANISM_TYPE(p.hash.rawValue)
            params.mgf = CK_RSA_PKCS_MGF_TYPE(p.mgf.rawValue)
            params.sLen = CK_ULONG(p.saltLength)
            return try withUnsafeMutablePointer(to: &params) { pp in
                mech.pParameter = UnsafeMutableRawPointer(pp)
                mech.ulParameterLen = CK_ULONG(MemoryLayout<CK_RSA_PKCS_PSS_PARAMS>.size)
                return try body(&mech)
            }
        }
    }
}

/// AES-GCM parameters: a caller IV (12 bytes for this project), AAD, tag length.
public struct GCMParameters: Sendable {
    public var iv: [UInt8]
    public var aad: [UInt8]
    public var tagBits: Int
    public init(iv: [UInt8], aad: [UInt8] = [], tagBits: Int = 128) {
        self.iv = iv
        self.aad = aad
        self.tagBits = tagBits
    }
}

/// RSA-OAEP parameters: hash and MGF1 hash (always equal here), optional label.
public struct OAEPParameters: Sendable, Hashable {
    public var hash: MechanismType
    public var mgf: MaskGeneration
    public var label: [UInt8]
    public init(hash: MechanismType, mgf: MaskGeneration, label: [UInt8] = []) {
        self.hash = hash
        self.mgf = mgf
        self.label = label
    }
    public static let sha1 = OAEPParameters(hash: .sha1, mgf: .mgf1SHA1)
    public static let sha256 = OAEPParameters(hash: .sha256, mgf: .mgf1SHA256)
}

/// RSA-PSS parameters. The static members use salt length = digest length,
/// as AWS KMS's RSASSA_PSS_* algorithms do.
public struct PSSParameters: Sendable, Hashable {
    public var hash: MechanismType
    public var mgf: MaskGeneration
    public var saltLength: Int
    public init(hash: MechanismType, mgf: MaskGeneration, saltLength: Int) {
        self.hash = hash
        self.mgf = mgf
        self.saltLength = saltLength
    }
    public static let sha256 = PSSParameters(hash: .sha256, mgf: .mgf1SHA256, saltLength: 32)
    public static let sha384 = PSSParameters(hash: .sha384, mgf: .mgf1SHA384, saltLength: 48)
    public static let sha512 = PSSParameters(hash: .sha512, mgf: .mgf1SHA512, saltLength: 64)
}
