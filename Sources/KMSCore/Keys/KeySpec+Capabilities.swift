import KMSModel
import PKCS11

/// The key spec answers every capability question, so no `switch keySpec`
/// is scattered over the operations (Vault's transit backend does the same).
extension KeySpec {
    enum Material {
        case secret(SecretKeySpec, KeyType)
        case pair(KeyPairSpec, KeyType)
    }

    var material: Material {
        switch self {
        case .symmetricDefault: .secret(.aes(bits: 256), .aes)
        case .hmac224: .secret(.genericSecret(bytes: 28), .genericSecret)
        case .hmac256: .secret(.genericSecret(bytes: 32), .genericSecret)
        case .hmac384: .secret(.genericSecret(bytes: 48), .genericSecret)
        case .hmac512: .secret(.genericSecret(bytes: 64), .genericSecret)
        case .rsa2048: .pair(.rsa(bits: 2048), .rsa)
        case .rsa3072: .pair(.rsa(bits: 3072), .rsa)
        case .rsa4096: .pair(.rsa(bits: 4096), .rsa)
        case .eccNistP256: .pair(.ec(.p256), .ec)
        case .eccNistP384: .pair(.ec(.p384), .ec)
        case .eccNistP521: .pair(.ec(.p521), .ec)
        case .eccSecgP256k1: .pair(.ec(.secp256k1), .ec)
        case .eccNistEdwards25519: .pair(.ed25519, .ecEdwards)
        }
    }

    var isAsymmetric: Bool {
        if case .pair = material { return true }
        return false
    }

    var isHMAC: Bool { !macAlgorithms.isEmpty }

    /// Key usages this spec may have. Only SYMMETRIC_DEFAULT has a default (AWS's rule).
    var allowedUsages: [KeyUsageType] {
        switch self {
        case .symmetricDefault: [.encryptDecrypt]
        case .hmac224, .hmac256, .hmac384, .hmac512: [.generateVerifyMac]
        case .rsa2048, .rsa3072, .rsa4096: [.encryptDecrypt, .signVerify]
        // AWS: KEY_AGREEMENT for the NIST curves only (and SM2, not offered).
        case .eccNistP256, .eccNistP384, .eccNistP521: [.signVerify, .keyAgreement]
        case .eccSecgP256k1, .eccNistEdwards25519: [.signVerify]
        }
    }

    func keyAgreementAlgorithms(usage: KeyUsageType) -> [KeyAgreementAlgorithm] {
        usage == .keyAgreement ? [.ecdh] : []
    }

    /// The size of an ECDH shared secret on this curve (its field size),
    /// nil for keys that cannot agree keys.
    var sharedSecretLength: Int? {
        switch self {
        case .eccNistP256: 32
        case .eccNistP384: 48
        case .eccNistP521: 66
        default: nil
        }
    }

    func encryptionAlgorithms(usage: KeyUsageType) -> [EncryptionAlgorithm] {
        guard usage == .encryptDecrypt else { return [] }
        switch self {
        case .symmetricDefault: return [.symmetricDefault]
        case .rsa2048, .rsa3072, .rsa4096: return [.rsaesOAEPSHA1, .rsaesOAEPSHA256]
        default: return []
        }
    }

    func signingAlgorithms(usage: KeyUsageType) -> [SigningAlgorithm] {
        guard usage == .signVerify else { return [] }
        switch self {
        case .rsa2048, .rsa3072, .rsa4096:
            return [.rsassaPSSSHA256, .rsassaPSSSHA384, .rsassaPSSSHA512,
                    .rsassaPKCS1v15SHA256, .rsassaPKCS1v15SHA384, .rsassaPKCS1v15SHA512]
        case .eccNistP256, .eccSecgP256k1: return [.ecdsaSHA256]
        case .eccNistP384: return [.ecdsaSHA384]
        case .eccNistP521: return [.ecdsaSHA512]
        case .eccNistEdwards25519: return [.ed25519SHA512]
        default: return []
        }
    }

    var macAlgorithms: [MacAlgorithm] {
        switch self {
        case .hmac224: [.hmacSHA224]
        case .hmac256: [.hmacSHA256]
        case .hmac384: [.hmacSHA384]
        case .hmac512: [.hmacSHA512]
        default: []
        }
    }

    /// Whether automatic and on-demand rotation apply (as in AWS: symmetric
    /// encryption keys only; asymmetric keys would change their public key).
    var supportsRotation: Bool { self == .symmetricDefault }

    /// Whether this token can create keys of this spec for `usage`, decided from its profile.
    func isSupported(by profile: TokenProfile, usage: KeyUsageType) -> Bool {
        if usage == .keyAgreement && !profile.supports(.ecdh1Derive) { return false }
        return isSupported(by: profile)
    }

    /// Whether this token can create keys of this spec, decided from its profile.
    func isSupported(by profile: TokenProfile) -> Bool {
        switch material {
        case .secret(.aes, _):
            return profile.supports(.aesKeyGen) && profile.supports(.aesGCM)
        case .secret(.genericSecret, _):
            return profile.supports(.genericSecretKeyGen) && macAlgorithms.allSatisfy { profile.supports($0.mechanismType) }
        case .pair(.rsa(let bits), _):
            return profile.supportsRSA(bits: bits)
        case .pair(.ec(let curve), _):
            return profile.ecCurves.contains(curve) && profile.supports(.ecdsa)
        case .pair(.ed25519, _):
            return profile.supportsEd25519
        }
    }
}

extension MacAlgorithm {
    var mechanismType: MechanismType {
        switch self {
        case .hmacSHA224: .sha224HMAC
        case .hmacSHA256: .sha256HMAC
        case .hmacSHA384: .sha384HMAC
        case .hmacSHA512: .sha512HMAC
        }
    }
}

extension SigningAlgorithm {
    enum Digest {
        case sha256, sha384, sha512

        var length: Int {
            switch self {
            case .sha256: 32
            case .sha384: 48
            case .sha512: 64
            }
        }
    }

    var digest: Digest {
        switch self {
        case .rsassaPSSSHA256, .rsassaPKCS1v15SHA256, .ecdsaSHA256: .sha256
        case .rsassaPSSSHA384, .rsassaPKCS1v15SHA384, .ecdsaSHA384: .sha384
        case .rsassaPSSSHA512, .rsassaPKCS1v15SHA512, .ecdsaSHA512, .ed25519SHA512: .sha512
        }
    }
}

extension EncryptionAlgorithm {
    var oaep: OAEPParameters? {
        switch self {
        case .rsaesOAEPSHA1: .sha1
        case .rsaesOAEPSHA256: .sha256
        case .symmetricDefault: nil
        }
    }
}

extension KeyUsageType {
    /// The PKCS#11 uses a key of this usage gets; nothing more.
    func pkcs11Usage(asymmetric: Bool) -> PKCS11.KeyUsage {
        switch self {
        case .encryptDecrypt: asymmetric ? [.decrypt, .encrypt] : [.encrypt, .decrypt]
        case .signVerify: [.sign, .verify]
        case .generateVerifyMac: [.sign, .verify]
        // Only the private half derives; the public half is used outside.
        case .keyAgreement: [.derive]
        }
    }
}
