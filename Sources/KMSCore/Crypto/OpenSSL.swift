import COpenSSL
import KMSModel

/// Public-key operations and padding that need no secret from the HSM, done
/// with OpenSSL's libcrypto: signature verification from a stored
/// SubjectPublicKeyInfo, RSA-OAEP encryption to a public key, constant-time
/// OAEP padding removal, and data key pairs handed to callers in plaintext.
enum OpenSSLCrypto {
    struct Failure: Error {}

    /// Parses DER SubjectPublicKeyInfo; the caller frees the key.
    private static func publicKey(_ spki: [UInt8]) throws -> OpaquePointer {
        try spki.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            guard let key = d2i_PUBKEY(nil, &p, buf.count) else { throw Failure() }
            return key
        }
    }

    private static func md(_ digest: SigningAlgorithm.Digest) -> OpaquePointer? {
        switch digest {
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }

    /// Verifies a signature as AWS KMS's Verify does. `digest` is the message
    /// digest for RSA and ECDSA (DER signatures for ECDSA); Ed25519 verifies
    /// over the whole `message`.
    static func verify(spki: [UInt8], algorithm: SigningAlgorithm, message: [UInt8], digest: [UInt8],
                       signature: [UInt8]) -> Bool {
        guard let key = try? publicKey(spki) else { return false }
        defer { EVP_PKEY_free(key) }
        if algorithm == .ed25519SHA512 {
            guard let ctx = EVP_MD_CTX_new() else { return false }
            defer { EVP_MD_CTX_free(ctx) }
            guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { return false }
            return EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1
        }
        guard let ctx = EVP_PKEY_CTX_new(key, nil) else { return false }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_verify_init(ctx) == 1,
              EVP_PKEY_CTX_set_signature_md(ctx, md(algorithm.digest)) == 1 else { return false }
        switch algorithm {
        case .rsassaPKCS1v15SHA256, .rsassaPKCS1v15SHA384, .rsassaPKCS1v15SHA512:
            guard EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 else { return false }
        case .rsassaPSSSHA256, .rsassaPSSSHA384, .rsassaPSSSHA512:
            guard EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1,
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1,
                  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md(algorithm.digest)) == 1 else { return false }
        default:
            break
        }
        return EVP_PKEY_verify(ctx, signature, signature.count, digest, digest.count) == 1
    }

    /// RSA-OAEP encryption to a public key (MGF1 with the same hash).
    static func rsaOAEPEncrypt(spki: [UInt8], sha256: Bool, plaintext: [UInt8]) throws -> [UInt8] {
        let key = try publicKey(spki)
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_PKEY_CTX_new(key, nil) else { throw Failure() }
        defer { EVP_PKEY_CTX_free(ctx) }
        let hash = sha256 ? EVP_sha256() : EVP_sha1()
        guard EVP_PKEY_encrypt_init(ctx) == 1,
              EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1,
              EVP_PKEY_CTX_set_rsa_oaep_md(ctx, hash) == 1,
              EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, hash) == 1 else { throw Failure() }
        var length = 0
        guard EVP_PKEY_encrypt(ctx, nil, &length, plaintext, plaintext.count) == 1 else { throw Failure() }
        var out = [UInt8](repeating: 0, count: length)
        guard EVP_PKEY_encrypt(ctx, &out, &length, plaintext, plaintext.count) == 1 else { throw Failure() }
        return Array(out.prefix(length))
    }

    /// Removes OAEP padding from a block that raw RSA decryption produced in
    /// the HSM (`CKM_RSA_X_509`), in constant time (OpenSSL's own check).
    /// Every failure is the same nil, so nothing tells a padding oracle why.
    static func oaepUnpad(block: [UInt8], sha256: Bool) -> [UInt8]? {
        let hash = sha256 ? EVP_sha256() : EVP_sha1()
        var out = [UInt8](repeating: 0, count: block.count)
        let n = block.withUnsafeBufferPointer { from in
            out.withUnsafeMutableBufferPointer { to in
                RSA_padding_check_PKCS1_OAEP_mgf1(to.baseAddress, Int32(to.count), from.baseAddress, Int32(from.count),
                                                  Int32(from.count), nil, 0, hash, hash)
            }
        }
        defer { for i in out.indices { out[i] = 0 } }
        guard n >= 0 else { return nil }
        return Array(out.prefix(Int(n)))
    }

    /// A data key pair: PKCS#8 private key and DER SubjectPublicKeyInfo.
    static func generateKeyPair(_ spec: DataKeyPairSpec) throws -> (privateKey: [UInt8], publicKey: [UInt8]) {
        let (algorithm, parameter): (String, Any?) = switch spec {
        case .rsa2048: ("RSA", 2048)
        case .rsa3072: ("RSA", 3072)
        case .rsa4096: ("RSA", 4096)
        case .eccNistP256: ("EC", "P-256")
        case .eccNistP384: ("EC", "P-384")
        case .eccNistP521: ("EC", "P-521")
        case .eccSecgP256k1: ("EC", "secp256k1")
        case .eccNistEdwards25519: ("ED25519", nil)
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { throw Failure() }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw Failure() }
        if let bits = parameter as? Int, EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) != 1 { throw Failure() }
        if let group = parameter as? String, EVP_PKEY_CTX_set_group_name(ctx, group) != 1 { throw Failure() }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw Failure() }
        defer { EVP_PKEY_free(key) }

        guard let p8 = EVP_PKEY2PKCS8(key) else { throw Failure() }
        defer { PKCS8_PRIV_KEY_INFO_free(p8) }
        var der: UnsafeMutablePointer<UInt8>?
        let derLength = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)
        guard derLength > 0, let der else { throw Failure() }
        let privateKey = Array(UnsafeBufferPointer(start: der, count: Int(derLength)))
        CRYPTO_clear_free(der, Int(derLength), #file, #line)

        var pub: UnsafeMutablePointer<UInt8>?
        let pubLength = i2d_PUBKEY(key, &pub)
        guard pubLength > 0, let pub else { throw Failure() }
        let publicKey = Array(UnsafeBufferPointer(start: pub, count: Int(pubLength)))
        CRYPTO_free(pub, #file, #line)
        return (privateKey, publicKey)
    }
}
