/// The enumerations of the AWS KMS API model, spelt as on the wire. Only the
/// values this service can honour are cases; anything else is refused when
/// decoded, with a message naming the member.

public enum KeySpec: String, Codable, Sendable, CaseIterable {
    case symmetricDefault = "SYMMETRIC_DEFAULT"
    case rsa2048 = "RSA_2048", rsa3072 = "RSA_3072", rsa4096 = "RSA_4096"
    case eccNistP256 = "ECC_NIST_P256", eccNistP384 = "ECC_NIST_P384", eccNistP521 = "ECC_NIST_P521"
    case eccSecgP256k1 = "ECC_SECG_P256K1"
    case eccNistEdwards25519 = "ECC_NIST_EDWARDS25519"
    case hmac224 = "HMAC_224", hmac256 = "HMAC_256", hmac384 = "HMAC_384", hmac512 = "HMAC_512"
}

public enum KeyUsageType: String, Codable, Sendable, CaseIterable {
    case encryptDecrypt = "ENCRYPT_DECRYPT"
    case signVerify = "SIGN_VERIFY"
    case generateVerifyMac = "GENERATE_VERIFY_MAC"
    case keyAgreement = "KEY_AGREEMENT"
}

/// `KeyAgreementAlgorithmSpec`: ECDH is the model's only value.
public enum KeyAgreementAlgorithm: String, Codable, Sendable, CaseIterable {
    case ecdh = "ECDH"
}

public enum KeyState: String, Codable, Sendable, CaseIterable {
    case enabled = "Enabled"
    case disabled = "Disabled"
    case pendingDeletion = "PendingDeletion"
    case pendingImport = "PendingImport"
    case unavailable = "Unavailable"
}

public enum Origin: String, Codable, Sendable, CaseIterable {
    case awsKMS = "AWS_KMS"
    case external = "EXTERNAL"
    /// A key in a custom key store: here, on one of the daemon's extra tokens.
    case awsCloudHSM = "AWS_CLOUDHSM"
}

public enum EncryptionAlgorithm: String, Codable, Sendable, CaseIterable {
    case symmetricDefault = "SYMMETRIC_DEFAULT"
    case rsaesOAEPSHA1 = "RSAES_OAEP_SHA_1"
    case rsaesOAEPSHA256 = "RSAES_OAEP_SHA_256"
}

public enum SigningAlgorithm: String, Codable, Sendable, CaseIterable {
    case rsassaPSSSHA256 = "RSASSA_PSS_SHA_256", rsassaPSSSHA384 = "RSASSA_PSS_SHA_384"
    case rsassaPSSSHA512 = "RSASSA_PSS_SHA_512"
    case rsassaPKCS1v15SHA256 = "RSASSA_PKCS1_V1_5_SHA_256", rsassaPKCS1v15SHA384 = "RSASSA_PKCS1_V1_5_SHA_384"
    case rsassaPKCS1v15SHA512 = "RSASSA_PKCS1_V1_5_SHA_512"
    case ecdsaSHA256 = "ECDSA_SHA_256", ecdsaSHA384 = "ECDSA_SHA_384", ecdsaSHA512 = "ECDSA_SHA_512"
    case ed25519SHA512 = "ED25519_SHA_512"
}

public enum MacAlgorithm: String, Codable, Sendable, CaseIterable {
    case hmacSHA224 = "HMAC_SHA_224", hmacSHA256 = "HMAC_SHA_256"
    case hmacSHA384 = "HMAC_SHA_384", hmacSHA512 = "HMAC_SHA_512"
}

public enum DataKeySpec: String, Codable, Sendable, CaseIterable {
    case aes256 = "AES_256", aes128 = "AES_128"
    public var byteCount: Int { self == .aes256 ? 32 : 16 }
}

public enum DataKeyPairSpec: String, Codable, Sendable, CaseIterable {
    case rsa2048 = "RSA_2048", rsa3072 = "RSA_3072", rsa4096 = "RSA_4096"
    case eccNistP256 = "ECC_NIST_P256", eccNistP384 = "ECC_NIST_P384", eccNistP521 = "ECC_NIST_P521"
    case eccSecgP256k1 = "ECC_SECG_P256K1"
    case eccNistEdwards25519 = "ECC_NIST_EDWARDS25519"
}

public enum MessageType: String, Codable, Sendable, CaseIterable {
    case raw = "RAW", digest = "DIGEST"
}

/// `AlgorithmSpec`: how imported key material is wrapped.
public enum WrappingAlgorithm: String, Codable, Sendable, CaseIterable {
    case rsaesOAEPSHA1 = "RSAES_OAEP_SHA_1"
    case rsaesOAEPSHA256 = "RSAES_OAEP_SHA_256"
    case rsaAESKeyWrapSHA1 = "RSA_AES_KEY_WRAP_SHA_1"
    case rsaAESKeyWrapSHA256 = "RSA_AES_KEY_WRAP_SHA_256"
}

public enum WrappingKeySpec: String, Codable, Sendable, CaseIterable {
    case rsa2048 = "RSA_2048", rsa3072 = "RSA_3072", rsa4096 = "RSA_4096"
    public var bits: Int {
        switch self {
        case .rsa2048: 2048
        case .rsa3072: 3072
        case .rsa4096: 4096
        }
    }
}

public enum ExpirationModel: String, Codable, Sendable, CaseIterable {
    case keyMaterialExpires = "KEY_MATERIAL_EXPIRES"
    case keyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"
}

public enum RotationType: String, Codable, Sendable, CaseIterable {
    case automatic = "AUTOMATIC", onDemand = "ON_DEMAND"
}

/// How a key version's material is kept (DESIGN.md §3), chosen per daemon
/// and recorded per version.
public enum KeyStorageMode: String, Codable, Sendable, CaseIterable {
    /// A non-extractable token object per version.
    case token
    /// Wrapped under the domain key, stored in the metadata store.
    case wrapped
}

/// What a grant may permit (`GrantOperation` in the model): the policy
/// action names without `kms:`, with ReEncrypt split into From and To.
public enum GrantOperation: String, Codable, Sendable, CaseIterable {
    case decrypt = "Decrypt", encrypt = "Encrypt", generateDataKey = "GenerateDataKey"
    case generateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext"
    case reEncryptFrom = "ReEncryptFrom", reEncryptTo = "ReEncryptTo"
    case sign = "Sign", verify = "Verify", getPublicKey = "GetPublicKey"
    case createGrant = "CreateGrant", retireGrant = "RetireGrant", describeKey = "DescribeKey"
    case generateDataKeyPair = "GenerateDataKeyPair"
    case generateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext"
    case generateMac = "GenerateMac", verifyMac = "VerifyMac", deriveSharedSecret = "DeriveSharedSecret"
}
