import CPKCS11

/// AES-GCM sealed output: the IV used, ciphertext and 16-byte tag.
public struct GCMSealedBox: Sendable, Hashable {
    public let iv: [UInt8]
    public let ciphertext: [UInt8]
    public let tag: [UInt8]
    public init(iv: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
        self.iv = iv
        self.ciphertext = ciphertext
        self.tag = tag
    }
}

/// Who picks the 96-bit GCM IV. Most tokens take the caller's; AWS CloudHSM
/// refuses caller IVs and writes its own into the parameter's IV buffer.
public enum GCMIVPolicy: String, Sendable, Hashable {
    /// We draw the IV from the token's RNG (`C_GenerateRandom`) and pass it in.
    case callerSupplied = "caller"
    /// The token generates the IV and returns it in `CK_GCM_PARAMS.pIv`.
    case tokenGenerated = "token"
}

extension Session {
    public static let gcmIVLength = 12
    public static let gcmTagLength = 16

    /// Encrypts with AES-GCM inside the token, a fresh 96-bit IV per call
    /// chosen as `ivPolicy` says, and a 128-bit tag.
    public func aesGCMSeal(_ plaintext: [UInt8], key: ObjectHandle, aad: [UInt8] = [],
                           ivPolicy: GCMIVPolicy = .callerSupplied) throws -> GCMSealedBox {
        // Token-generated IVs come back in the same buffer we lend it; a zero
        // buffer that comes back unchanged means the token did not do that.
        var iv = ivPolicy == .callerSupplied
            ? try generateRandom(count: Self.gcmIVLength)
            : [UInt8](repeating: 0, count: Self.gcmIVLength)
        var aadBytes = aad
        let out: [UInt8] = try iv.withUnsafeMutableBufferPointer { ivp in
            try aadBytes.withUnsafeMutableBufferPointer { ap in
                var params = CK_GCM_PARAMS(
                    pIv: ivp.baseAddress, ulIvLen: CK_ULONG(ivp.count), ulIvBits: CK_ULONG(ivp.count * 8),
                    pAAD: ap.baseAddress, ulAADLen: CK_ULONG(ap.count), ulTagBits: 128)
                try withUnsafeMutablePointer(to: &params) { pp in
                    var mech = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_GCM),
                                            pParameter: UnsafeMutableRawPointer(pp),
                                            ulParameterLen: CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size))
                    try check(f.C_EncryptInit(h, &mech, CK_OBJECT_HANDLE(key.rawValue)), .encryptInit)
                }
                return try encryptFinal(plaintext, expectedLength: plaintext.count + Self.gcmTagLength)
            }
        }
        if ivPolicy == .tokenGenerated && iv.allSatisfy({ $0 == 0 }) {
            throw PKCS11UsageError("token did not return a GCM IV; set the token profile's GCM IV policy to caller")
        }
        guard out.count == plaintext.count + Self.gcmTagLength else {
            throw PKCS11UsageError("AES-GCM output has \(out.count) bytes, expected \(plaintext.count + Self.gcmTagLength)")
        }
        return GCMSealedBox(iv: iv, ciphertext: Array(out.dropLast(Self.gcmTagLength)),
                            tag: Array(out.suffix(Self.gcmTagLength)))
    }

    /// Decrypts and authenticates AES-GCM inside the token. A wrong tag, key,
    /// IV or AAD fails with the token's error (`CKR_ENCRYPTED_DATA_INVALID` or
    /// similar); no partial plaintext is ever returned.
    public func aesGCMOpen(_ box: GCMSealedBox, key: ObjectHandle, aad: [UInt8] = []) throws -> [UInt8] {
        try decrypt(box.ciphertext + box.tag, key: key,
                    mechanism: .aesGCM(GCMParameters(iv: box.iv, aad: aad, tagBits: box.tag.count * 8)),
                    expectedLength: box.ciphertext.count + box.tag.count)
    }
}
