import Crypto
import Foundation
import KMSModel

extension KMSEngine {
    /// ECDH between the key's private half, inside the HSM (`CKM_ECDH1_DERIVE`,
    /// no KDF), and the caller's peer public key. As AWS does, the raw shared
    /// secret (the shared point's x coordinate) is returned: deriving keys
    /// from it (HKDF, say) is the caller's step.
    public func deriveSharedSecret(_ r: DeriveSharedSecretRequest, caller: Principal,
                                   facts: AuditFacts = AuditFacts()) async throws -> DeriveSharedSecretResponse {
        let algorithm = try Validate.required(r.keyAgreementAlgorithm, "KeyAgreementAlgorithm")
        let peer = try Validate.blob(r.publicKey, "PublicKey", max: 8192)
        try Validate.grantTokens(r.grantTokens)
        if r.recipient != nil {
            throw KMSError.validation("Recipient (a Nitro enclave's attestation document) is not supported: this host "
                + "has no attestation service. Omit Recipient to receive the shared secret over the daemon's socket.")
        }
        let key = try await authorizedKey(r.keyId, for: .deriveSharedSecret, caller: caller, facts: facts,
                                          conditions: RequestConditions().with("kms:KeyAgreementAlgorithm", algorithm.rawValue))
        try checkState(key, for: .deriveSharedSecret)
        try checkUsage(key, .keyAgreement, for: .deriveSharedSecret)
        guard let length = key.keySpec.sharedSecretLength else {
            throw KMSError.invalidKeyUsage("\(arn(key)) is a \(key.keySpec.rawValue) key; DeriveSharedSecret needs an "
                                           + "ECC_NIST_P256, ECC_NIST_P384 or ECC_NIST_P521 key.")
        }
        let point = try PeerPublicKey.uncompressedPoint(peer, spec: key.keySpec)
        try dryRun(r.dryRun)
        let version = try await currentVersion(key, facts: facts)
        let secret = try await vault(for: key).withKey(version, spec: key.keySpec, usage: key.keyUsage) { s, h in
            try s.ecdhSharedSecret(h.key, peerPoint: point, length: length)
        }
        return DeriveSharedSecretResponse(keyId: arn(key), sharedSecret: Data(secret),
                                          keyAgreementAlgorithm: algorithm, keyOrigin: key.origin)
    }
}

/// The peer public key of DeriveSharedSecret: a DER SubjectPublicKeyInfo on
/// the key's own curve, turned into the uncompressed point PKCS#11 takes.
enum PeerPublicKey {
    /// Refuses, with ValidationException, anything but the one canonical DER
    /// encoding (uncompressed point, no trailing bytes, no BER) of a point on
    /// the key's curve. swift-crypto (BoringSSL) checks the point lies on the
    /// curve; comparing with its own DER encoding checks the rest.
    static func uncompressedPoint(_ der: [UInt8], spec: KeySpec) throws -> [UInt8] {
        let parsed: (der: Data, point: Data)?
        switch spec {
        case .eccNistP256:
            parsed = (try? P256.KeyAgreement.PublicKey(derRepresentation: der)).map { ($0.derRepresentation, $0.x963Representation) }
        case .eccNistP384:
            parsed = (try? P384.KeyAgreement.PublicKey(derRepresentation: der)).map { ($0.derRepresentation, $0.x963Representation) }
        case .eccNistP521:
            parsed = (try? P521.KeyAgreement.PublicKey(derRepresentation: der)).map { ($0.derRepresentation, $0.x963Representation) }
        default:
            parsed = nil
        }
        guard let parsed, Array(parsed.der) == der else {
            throw KMSError.validation("PublicKey must be the DER SubjectPublicKeyInfo (RFC 5280) of a point on "
                + "\(spec.rawValue)'s curve, with the point uncompressed, as GetPublicKey returns one; this one is not.")
        }
        return Array(parsed.point)
    }
}
