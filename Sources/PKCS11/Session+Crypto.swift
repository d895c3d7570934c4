import CPKCS11

/// Single-part cryptographic operations. Each one runs Init and the final
/// call back to back, so a session is never left with an operation active.
extension Session {
    /// `C_EncryptInit` + `C_Encrypt`. `expectedLength` (when the caller knows
    /// it, e.g. plaintext + tag for GCM, modulus size for RSA) avoids the
    /// size-query round trip.
    public func encrypt(_ data: [UInt8], key: ObjectHandle, mechanism: Mechanism, expectedLength: Int? = nil) throws -> [UInt8] {
        try mechanism.withCMechanism { m in
            try check(f.C_EncryptInit(h, m, CK_OBJECT_HANDLE(key.rawValue)), .encryptInit)
        }
        return try encryptFinal(data, expectedLength: expectedLength)
    }

    func encryptFinal(_ data: [UInt8], expectedLength: Int?) throws -> [UInt8] {
        var input = data
        return try input.withUnsafeMutableBufferPointer { inp in
            try callWithOutput(.encrypt, expected: expectedLength ?? data.count + 64, cap: Self.outputCap) { out, len in
                f.C_Encrypt(h, inp.baseAddress, CK_ULONG(inp.count), out, len)
            }
        }
    }

    /// `C_DecryptInit` + `C_Decrypt`.
    public func decrypt(_ data: [UInt8], key: ObjectHandle, mechanism: Mechanism, expectedLength: Int? = nil) throws -> [UInt8] {
        try mechanism.withCMechanism { m in
            try check(f.C_DecryptInit(h, m, CK_OBJECT_HANDLE(key.rawValue)), .decryptInit)
        }
        var input = data
        return try input.withUnsafeMutableBufferPointer { inp in
            try callWithOutput(.decrypt, expected: expectedLength ?? max(data.count, 1), cap: Self.outputCap) { out, len in
                f.C_Decrypt(h, inp.baseAddress, CK_ULONG(inp.count), out, len)
            }
        }
    }

    /// `C_SignInit` + `C_Sign` (signatures and MACs).
    public func sign(_ data: [UInt8], key: ObjectHandle, mechanism: Mechanism, expectedLength: Int? = nil) throws -> [UInt8] {
        try mechanism.withCMechanism { m in
            try check(f.C_SignInit(h, m, CK_OBJECT_HANDLE(key.rawValue)), .signInit)
        }
        var input = data
        return try input.withUnsafeMutableBufferPointer { inp in
            try callWithOutput(.sign, expected: expectedLength ?? 512, cap: Self.outputCap) { out, len in
                f.C_Sign(h, inp.baseAddress, CK_ULONG(inp.count), out, len)
            }
        }
    }

    /// `C_VerifyInit` + `C_Verify`. A bad signature is `false`; anything else
    /// that goes wrong (wrong key type, missing permission) throws.
    public func verify(_ data: [UInt8], signature: [UInt8], key: ObjectHandle, mechanism: Mechanism) throws -> Bool {
        try mechanism.withCMechanism { m in
            try check(f.C_VerifyInit(h, m, CK_OBJECT_HANDLE(key.rawValue)), .verifyInit)
        }
        var input = data
        var sig = signature
        let rv = input.withUnsafeMutableBufferPointer { inp in
            sig.withUnsafeMutableBufferPointer { s in
                f.C_Verify(h, inp.baseAddress, CK_ULONG(inp.count), s.baseAddress, CK_ULONG(s.count))
            }
        }
        if rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE { return false }
        try check(rv, .verify)
        return true
    }

    /// `C_DigestInit` + `C_Digest`.
    public func digest(_ data: [UInt8], mechanism: Mechanism) throws -> [UInt8] {
        try mechanism.withCMechanism { m in try check(f.C_DigestInit(h, m), .digestInit) }
        var input = data
        return try input.withUnsafeMutableBufferPointer { inp in
            try callWithOutput(.digest, expected: 64, cap: 64) { out, len in
                f.C_Digest(h, inp.baseAddress, CK_ULONG(inp.count), out, len)
            }
        }
    }

    /// `C_GenerateRandom`: bytes from the token's RNG.
    public func generateRandom(count: Int) throws -> [UInt8] {
        guard count >= 0 && count <= Self.outputCap else { throw PKCS11UsageError("random byte count out of range") }
        var bytes = [UInt8](repeating: 0, count: count)
        if count == 0 { return bytes }
        try bytes.withUnsafeMutableBufferPointer { b in
            try check(f.C_GenerateRandom(h, b.baseAddress, CK_ULONG(count)), .generateRandom)
        }
        return bytes
    }

    // MARK: Wrap and unwrap

    /// `C_WrapKey`: exports `key` encrypted under `wrappingKey`.
    public func wrapKey(_ key: ObjectHandle, with wrappingKey: ObjectHandle, mechanism: Mechanism) throws -> [UInt8] {
        try mechanism.withCMechanism { m in
            try callWithOutput(.wrapKey, expected: nil, cap: Self.outputCap) { out, len in
                f.C_WrapKey(h, m, CK_OBJECT_HANDLE(wrappingKey.rawValue), CK_OBJECT_HANDLE(key.rawValue), out, len)
            }
        }
    }

    /// `C_UnwrapKey`: imports a wrapped key as a new object with `template`.
    public func unwrapKey(_ wrapped: [UInt8], with unwrappingKey: ObjectHandle, mechanism: Mechanism,
                          template: [Attribute]) throws -> ObjectHandle {
        var blob = wrapped
        var object: CK_OBJECT_HANDLE = 0
        try mechanism.withCMechanism { m in
            try blob.withUnsafeMutableBufferPointer { w in
                try withCTemplate(template) { t, n in
                    try check(f.C_UnwrapKey(h, m, CK_OBJECT_HANDLE(unwrappingKey.rawValue),
                                            w.baseAddress, CK_ULONG(w.count), t, n, &object), .unwrapKey)
                }
            }
        }
        return ObjectHandle(rawValue: UInt(object))
    }

    // MARK: Derivation

    /// `C_DeriveKey`: a new object made from `baseKey` by `mechanism`, with `template`.
    public func deriveKey(_ baseKey: ObjectHandle, mechanism: Mechanism, template: [Attribute]) throws -> ObjectHandle {
        var object: CK_OBJECT_HANDLE = 0
        try mechanism.withCMechanism { m in
            try withCTemplate(template) { t, n in
                try check(f.C_DeriveKey(h, m, CK_OBJECT_HANDLE(baseKey.rawValue), t, n, &object), .deriveKey)
            }
        }
        return ObjectHandle(rawValue: UInt(object))
    }

    /// ECDH (`CKM_ECDH1_DERIVE`, no KDF) with the private key `privateKey`
    /// and the peer's uncompressed point: the raw shared secret, `length`
    /// bytes (the curve's field size), as AWS's DeriveSharedSecret returns it.
    /// The secret exists in the token only as a session object that is read
    /// once and destroyed, whatever happens.
    public func ecdhSharedSecret(_ privateKey: ObjectHandle, peerPoint: [UInt8], length: Int) throws -> [UInt8] {
        let secret = try deriveKey(privateKey, mechanism: .ecdh1Derive(peerPoint: peerPoint), template: [
            .class(.secretKey), .keyType(.genericSecret), .valueLength(length), .token(false), .private(true),
            // Read out below: the caller asked for the secret itself.
            .sensitive(false), .extractable(true),
            Attribute(.encrypt, bool: false), Attribute(.decrypt, bool: false), Attribute(.sign, bool: false),
            Attribute(.verify, bool: false), Attribute(.wrap, bool: false), Attribute(.unwrap, bool: false),
            Attribute(.derive, bool: false),
        ])
        defer { try? destroyObject(secret) }
        return try attribute(.value, of: secret).value
    }
}
