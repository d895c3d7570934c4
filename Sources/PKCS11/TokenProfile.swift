/// What this token can do and how it does it, learnt by probing at start-up,
/// so that token quirks live in data rather than in branches scattered over
/// the code. Callers ask the profile; they do not test the vendor.
public struct TokenProfile: Sendable {
    public let manufacturerID: String
    public let model: String
    /// Every mechanism the token lists, with its key sizes and uses.
    public let mechanisms: [MechanismType: MechanismInfo]
    /// The constant this token uses for RFC 5649 AES key wrap with padding
    /// (SoftHSM2: `CKM_AES_KEY_WRAP_PAD` 0x210A), or nil if it has none.
    public let rfc5649KeyWrap: MechanismType?
    /// Whether the token takes our GCM IV or insists on its own (CloudHSM).
    public let gcmIVPolicy: GCMIVPolicy
    /// OAEP hashes the token accepts (SoftHSM 2.6: SHA-1 only).
    public let oaepHashes: Set<MechanismType>
    /// ECDSA curves on which the token generated a key when probed.
    public let ecCurves: Set<NamedCurve>
    public let supportsEd25519: Bool
    /// RSA modulus sizes the token says it can generate.
    public let rsaModulusBits: ClosedRange<Int>?
    /// The token's own bound on read-write sessions, nil when unlimited.
    public let maxReadWriteSessions: Int?
    /// Key types whose keys the token can wrap with RFC 5649 (SoftHSM 2.6
    /// cannot wrap Ed25519 private keys).
    public let wrappableKeyTypes: Set<KeyType>

    public func canWrap(_ keyType: KeyType) -> Bool { wrappableKeyTypes.contains(keyType) }

    public init(manufacturerID: String, model: String, mechanisms: [MechanismType: MechanismInfo],
                rfc5649KeyWrap: MechanismType?, gcmIVPolicy: GCMIVPolicy, oaepHashes: Set<MechanismType>,
                ecCurves: Set<NamedCurve>, supportsEd25519: Bool, rsaModulusBits: ClosedRange<Int>?,
                maxReadWriteSessions: Int?, wrappableKeyTypes: Set<KeyType>) {
        self.manufacturerID = manufacturerID
        self.model = model
        self.mechanisms = mechanisms
        self.rfc5649KeyWrap = rfc5649KeyWrap
        self.gcmIVPolicy = gcmIVPolicy
        self.oaepHashes = oaepHashes
        self.ecCurves = ecCurves
        self.supportsEd25519 = supportsEd25519
        self.rsaModulusBits = rsaModulusBits
        self.maxReadWriteSessions = maxReadWriteSessions
        self.wrappableKeyTypes = wrappableKeyTypes
    }

    /// A copy with some answers changed (operator overrides, tests).
    public func with(ecCurves: Set<NamedCurve>? = nil, supportsEd25519: Bool? = nil,
                     oaepHashes: Set<MechanismType>? = nil, gcmIVPolicy: GCMIVPolicy? = nil) -> TokenProfile {
        TokenProfile(manufacturerID: manufacturerID, model: model, mechanisms: mechanisms, rfc5649KeyWrap: rfc5649KeyWrap,
                     gcmIVPolicy: gcmIVPolicy ?? self.gcmIVPolicy, oaepHashes: oaepHashes ?? self.oaepHashes,
                     ecCurves: ecCurves ?? self.ecCurves, supportsEd25519: supportsEd25519 ?? self.supportsEd25519,
                     rsaModulusBits: rsaModulusBits, maxReadWriteSessions: maxReadWriteSessions,
                     wrappableKeyTypes: wrappableKeyTypes)
    }

    public func supports(_ mechanism: MechanismType) -> Bool { mechanisms[mechanism] != nil }

    public func supportsRSA(bits: Int) -> Bool { rsaModulusBits?.contains(bits) ?? false }

    public func supportsOAEP(_ hash: MechanismType) -> Bool { oaepHashes.contains(hash) }

    /// Probes the token through `session` (logged in as user, read-write).
    /// Creates and destroys a few session objects; changes nothing on the token.
    public static func probe(_ session: Session, slot: Slot) throws -> TokenProfile {
        let info = try slot.tokenInfo()
        var mechanisms: [MechanismType: MechanismInfo] = [:]
        for m in try slot.mechanisms() {
            mechanisms[m] = try? slot.mechanismInfo(m)
        }
        let wrap: MechanismType? = [MechanismType.aesKeyWrapPad, .aesKeyWrapKWP].first { mechanisms[$0] != nil }

        var gcm = GCMIVPolicy.callerSupplied
        if mechanisms[.aesGCM] != nil && mechanisms[.aesKeyGen] != nil {
            let key = try session.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt))
            defer { try? session.destroyObject(key) }
            // Hand the token a zero IV buffer: a token that picks its own IV
            // writes it there; one that takes ours leaves it alone.
            if (try? session.aesGCMSeal([0], key: key, ivPolicy: .tokenGenerated)) != nil {
                gcm = .tokenGenerated
            }
        }

        var rsaBits: ClosedRange<Int>?
        var oaep: Set<MechanismType> = []
        if let rsa = mechanisms[.rsaPKCSKeyPairGen], rsa.maxKeySize >= rsa.minKeySize {
            rsaBits = rsa.minKeySize...rsa.maxKeySize
            if mechanisms[.rsaPKCSOAEP] != nil {
                let pair = try session.generateKeyPair(.rsa(bits: max(1024, rsa.minKeySize)),
                                                       KeyOptions(usage: .encryptDecrypt))
                defer {
                    try? session.destroyObject(pair.publicKey)
                    try? session.destroyObject(pair.privateKey)
                }
                for params in [OAEPParameters.sha1, .sha256] {
                    let works = (try? session.decrypt(
                        session.encrypt([0x2A], key: pair.publicKey, mechanism: .rsaOAEP(params)),
                        key: pair.privateKey, mechanism: .rsaOAEP(params))) == [0x2A]
                    if works { oaep.insert(params.hash) }
                }
            }
        }

        var curves: Set<NamedCurve> = []
        if mechanisms[.ecKeyPairGen] != nil {
            for curve in NamedCurve.all {
                if let pair = try? session.generateKeyPair(.ec(curve), KeyOptions(usage: .signVerify)) {
                    curves.insert(curve)
                    try? session.destroyObject(pair.publicKey)
                    try? session.destroyObject(pair.privateKey)
                }
            }
        }
        var ed25519 = false
        if mechanisms[.ecEdwardsKeyPairGen] != nil && mechanisms[.eddsa] != nil,
           let pair = try? session.generateKeyPair(.ed25519, KeyOptions(usage: .signVerify)) {
            ed25519 = true
            try? session.destroyObject(pair.publicKey)
            try? session.destroyObject(pair.privateKey)
        }

        let wrappable = try wrap.map { try probeWrapping(session, mechanism: Mechanism($0), ed25519: ed25519) } ?? []

        return TokenProfile(
            manufacturerID: info.manufacturerID, model: info.model, mechanisms: mechanisms,
            rfc5649KeyWrap: wrap, gcmIVPolicy: gcm, oaepHashes: oaep, ecCurves: curves,
            supportsEd25519: ed25519, rsaModulusBits: rsaBits, maxReadWriteSessions: info.maxRwSessionCount,
            wrappableKeyTypes: wrappable)
    }

    /// Which key types survive a wrap/unwrap round trip under an AES key.
    private static func probeWrapping(_ session: Session, mechanism: Mechanism, ed25519: Bool) throws -> Set<KeyType> {
        let wrapping = try session.generateKey(.aes(bits: 256), KeyOptions(usage: .wrapUnwrap))
        defer { try? session.destroyObject(wrapping) }
        var extractable = KeyOptions(usage: .signVerify)
        extractable.extractable = true
        var result: Set<KeyType> = []
        func attempt(_ keyType: KeyType, _ make: () throws -> [ObjectHandle]) {
            guard let objects = try? make(), let key = objects.first else { return }
            defer { objects.forEach { try? session.destroyObject($0) } }
            if (try? session.wrapKey(key, with: wrapping, mechanism: mechanism)) != nil { result.insert(keyType) }
        }
        attempt(.aes) { [try session.generateKey(.aes(bits: 256), extractable)] }
        attempt(.genericSecret) { [try session.generateKey(.genericSecret(bytes: 32), extractable)] }
        attempt(.ec) {
            let p = try session.generateKeyPair(.ec(.p256), extractable)
            return [p.privateKey, p.publicKey]
        }
        attempt(.rsa) {
            let p = try session.generateKeyPair(.rsa(bits: 1024), extractable)
            return [p.privateKey, p.publicKey]
        }
        if ed25519 {
            attempt(.ecEdwards) {
                let p = try session.generateKeyPair(.ed25519, extractable)
                return [p.privateKey, p.publicKey]
            }
        }
        return result
    }

    /// The RFC 5649 wrap mechanism, or a clear error if the token has none.
    public func rfc5649WrapMechanism() throws -> Mechanism {
        guard let rfc5649KeyWrap else {
            throw PKCS11UsageError("token has no RFC 5649 AES key wrap (CKM_AES_KEY_WRAP_PAD or CKM_AES_KEY_WRAP_KWP)")
        }
        return Mechanism(rfc5649KeyWrap)
    }
}
