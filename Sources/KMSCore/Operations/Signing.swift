import Crypto
import Foundation
import KMSModel
import PKCS11

extension KMSEngine {
    public func getPublicKey(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GetPublicKeyResponse {
        try Validate.grantTokens(r.grantTokens)
        let key = try await authorizedKey(r.keyId, for: .getPublicKey, caller: caller, facts: facts)
        try checkState(key, for: .getPublicKey)
        guard key.keySpec.isAsymmetric, let spki = try await currentVersion(key, facts: facts).publicKey else {
            throw KMSError.unsupported("\(arn(key)) is a \(key.keySpec.rawValue) key; only asymmetric keys have a public key.")
        }
        let enc = key.keySpec.encryptionAlgorithms(usage: key.keyUsage)
        let sig = key.keySpec.signingAlgorithms(usage: key.keyUsage)
        let agreement = key.keySpec.keyAgreementAlgorithms(usage: key.keyUsage)
        return GetPublicKeyResponse(keyId: arn(key), publicKey: Data(spki), customerMasterKeySpec: key.keySpec,
                                    keySpec: key.keySpec, keyUsage: key.keyUsage,
                                    encryptionAlgorithms: enc.isEmpty ? nil : enc, signingAlgorithms: sig.isEmpty ? nil : sig,
                                    keyAgreementAlgorithms: agreement.isEmpty ? nil : agreement)
    }

    /// Checks a sign or verify request and returns the key, message and the
    /// digest to sign (empty for Ed25519, which signs the message itself).
    private func prepareSignature(keyId: String?, message: Data?, messageType: MessageType?,
                                  algorithm: SigningAlgorithm?, grantTokens: [String]?,
                                  operation: KMSOperation, caller: Principal, facts: AuditFacts) async throws -> (KeyRecord, [UInt8], [UInt8], SigningAlgorithm) {
        let message = try Validate.plaintext(message, "Message")
        let algorithm = try Validate.required(algorithm, "SigningAlgorithm")
        try Validate.grantTokens(grantTokens)
        let key = try await authorizedKey(keyId, for: operation, caller: caller, facts: facts,
                                          conditions: RequestConditions().with("kms:SigningAlgorithm", algorithm.rawValue))
        try checkState(key, for: operation)
        try checkUsage(key, .signVerify, for: operation)
        let allowed = key.keySpec.signingAlgorithms(usage: key.keyUsage)
        guard allowed.contains(algorithm) else {
            throw KMSError.invalidKeyUsage("\(arn(key)) does not support SigningAlgorithm \(algorithm.rawValue); "
                                           + "it supports \(allowed.map(\.rawValue).joined(separator: ", ")).")
        }
        let digest: [UInt8]
        switch messageType ?? .raw {
        case .raw:
            if algorithm == .ed25519SHA512 { return (key, message, [], algorithm) }
            switch algorithm.digest {
            case .sha256: digest = Array(SHA256.hash(data: message))
            case .sha384: digest = Array(SHA384.hash(data: message))
            case .sha512: digest = Array(SHA512.hash(data: message))
            }
        case .digest:
            guard algorithm != .ed25519SHA512 else {
                throw KMSError.validation("ED25519_SHA_512 signs RAW messages only; MessageType DIGEST is not supported.")
            }
            guard message.count == algorithm.digest.length else {
                throw KMSError.validation("With MessageType DIGEST, Message must be the \(algorithm.digest.length)-byte "
                                          + "digest for \(algorithm.rawValue); it has \(message.count) bytes.")
            }
            digest = message
        }
        return (key, message, digest, algorithm)
    }

    public func sign(_ r: SignRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> SignResponse {
        let (key, message, digest, algorithm) = try await prepareSignature(
            keyId: r.keyId, message: r.message, messageType: r.messageType, algorithm: r.signingAlgorithm,
            grantTokens: r.grantTokens, operation: .sign, caller: caller, facts: facts)
        try dryRun(r.dryRun)
        let version = try await currentVersion(key, facts: facts)
        let signature = try await vault(for: key).withKey(version, spec: key.keySpec, usage: key.keyUsage) { s, h -> [UInt8] in
            switch algorithm {
            case .ed25519SHA512:
                return try s.sign(message, key: h.key, mechanism: .eddsa)
            case .ecdsaSHA256, .ecdsaSHA384, .ecdsaSHA512:
                // PKCS#11 returns raw r||s; the wire carries strict DER.
                return try ECDSASignature.derSignature(fromRaw: s.sign(digest, key: h.key, mechanism: .ecdsa))
            case .rsassaPKCS1v15SHA256, .rsassaPKCS1v15SHA384, .rsassaPKCS1v15SHA512:
                return try s.sign(DigestInfo.prefix(algorithm.digest) + digest, key: h.key, mechanism: .rsaPKCS)
            case .rsassaPSSSHA256:
                return try s.sign(digest, key: h.key, mechanism: .rsaPKCSPSS(.sha256))
            case .rsassaPSSSHA384:
                return try s.sign(digest, key: h.key, mechanism: .rsaPKCSPSS(.sha384))
            case .rsassaPSSSHA512:
                return try s.sign(digest, key: h.key, mechanism: .rsaPKCSPSS(.sha512))
            }
        }
        return SignResponse(keyId: arn(key), signature: Data(signature), signingAlgorithm: algorithm)
    }

    /// Verification is a public-key operation: done from the stored
    /// SubjectPublicKeyInfo with OpenSSL, which knows every curve offered.
    public func verify(_ r: VerifyRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> VerifyResponse {
        let (key, message, digest, algorithm) = try await prepareSignature(
            keyId: r.keyId, message: r.message, messageType: r.messageType, algorithm: r.signingAlgorithm,
            grantTokens: r.grantTokens, operation: .verify, caller: caller, facts: facts)
        let signature = try Validate.blob(r.signature, "Signature", max: 6144)
        try dryRun(r.dryRun)
        guard let spki = try await currentVersion(key, facts: facts).publicKey else {
            throw KMSError.internalError("signing key without a public key")
        }
        // ECDSA signatures must be strict DER; BER never verifies.
        if [.ecdsaSHA256, .ecdsaSHA384, .ecdsaSHA512].contains(algorithm) {
            let n = switch key.keySpec {
            case .eccNistP384: 48
            case .eccNistP521: 66
            default: 32
            }
            guard (try? ECDSASignature.rawSignature(fromDER: signature, coordinateByteCount: n)) != nil else {
                throw KMSError(.kmsInvalidSignature, "The signature is not valid for this key, message and algorithm.")
            }
        }
        guard OpenSSLCrypto.verify(spki: spki, algorithm: algorithm, message: message, digest: digest, signature: signature) else {
            throw KMSError(.kmsInvalidSignature, "The signature is not valid for this key, message and algorithm.")
        }
        return VerifyResponse(keyId: arn(key), signatureValid: true, signingAlgorithm: algorithm)
    }
}

/// DER DigestInfo prefixes for RSASSA-PKCS1-v1_5 over a precomputed digest (RFC 8017 §9.2).
enum DigestInfo {
    static func prefix(_ digest: SigningAlgorithm.Digest) -> [UInt8] {
        switch digest {
        case .sha256: [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20]
        case .sha384: [0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30]
        case .sha512: [0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40]
        }
    }
}
