import Foundation
import KMSModel

extension KMSEngine {
    /// The key that encrypts a data key (pair): authorised, enabled, and a
    /// symmetric encryption key.
    private func dataKeyEncryptionKey(_ keyId: String?, context: [String: String]?, dryRun flag: Bool?,
                                      operation: KMSOperation, caller: Principal, facts: AuditFacts) async throws -> KeyRecord {
        let key = try await authorizedKey(keyId, for: operation, caller: caller, facts: facts, conditions: .context(context))
        facts.note(context: context)
        try checkState(key, for: operation)
        try checkUsage(key, .encryptDecrypt, for: operation)
        guard key.keySpec == .symmetricDefault else {
            throw KMSError.invalidKeyUsage("\(operation.rawValue) needs a SYMMETRIC_DEFAULT key; \(arn(key)) is \(key.keySpec.rawValue).")
        }
        try dryRun(flag)
        return key
    }

    public func generateDataKey(_ r: GenerateDataKeyRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GenerateDataKeyResponse {
        try await dataKey(r, withPlaintext: true, operation: .generateDataKey, caller: caller, facts: facts)
    }

    public func generateDataKeyWithoutPlaintext(_ r: GenerateDataKeyRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GenerateDataKeyResponse {
        try await dataKey(r, withPlaintext: false, operation: .generateDataKeyWithoutPlaintext, caller: caller, facts: facts)
    }

    private func dataKey(_ r: GenerateDataKeyRequest, withPlaintext: Bool, operation: KMSOperation,
                         caller: Principal, facts: AuditFacts) async throws -> GenerateDataKeyResponse {
        let count: Int
        switch (r.keySpec, r.numberOfBytes) {
        case (let spec?, nil): count = spec.byteCount
        case (nil, let n?):
            try Validate.range(n, "NumberOfBytes", 1...1024)
            count = n
        case (nil, nil): throw KMSError.validation("Give KeySpec or NumberOfBytes.")
        case (.some, .some): throw KMSError.validation("Give KeySpec or NumberOfBytes, not both.")
        }
        try EncryptionContext.validate(r.encryptionContext)
        try Validate.grantTokens(r.grantTokens)
        let key = try await dataKeyEncryptionKey(r.keyId, context: r.encryptionContext, dryRun: r.dryRun,
                                                 operation: operation, caller: caller, facts: facts)
        // The data key comes from the HSM's RNG.
        let dataKey = try await pool.withSession { try $0.generateRandom(count: count) }
        let blob = try await encrypt(dataKey, key: key, algorithm: .symmetricDefault, context: r.encryptionContext ?? [:],
                                     facts: facts)
        let material = try await currentVersion(key, facts: facts).keyMaterialID
        return GenerateDataKeyResponse(ciphertextBlob: Data(blob), plaintext: withPlaintext ? Data(dataKey) : nil,
                                       keyId: arn(key), keyMaterialId: material)
    }

    public func generateDataKeyPair(_ r: GenerateDataKeyPairRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GenerateDataKeyPairResponse {
        try await dataKeyPair(r, withPlaintext: true, operation: .generateDataKeyPair, caller: caller, facts: facts)
    }

    public func generateDataKeyPairWithoutPlaintext(_ r: GenerateDataKeyPairRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GenerateDataKeyPairResponse {
        try await dataKeyPair(r, withPlaintext: false, operation: .generateDataKeyPairWithoutPlaintext, caller: caller, facts: facts)
    }

    private func dataKeyPair(_ r: GenerateDataKeyPairRequest, withPlaintext: Bool, operation: KMSOperation,
                             caller: Principal, facts: AuditFacts) async throws -> GenerateDataKeyPairResponse {
        let spec = try Validate.required(r.keyPairSpec, "KeyPairSpec")
        try EncryptionContext.validate(r.encryptionContext)
        try Validate.grantTokens(r.grantTokens)
        let key = try await dataKeyEncryptionKey(r.keyId, context: r.encryptionContext, dryRun: r.dryRun,
                                                 operation: operation, caller: caller, facts: facts)
        let pair: (privateKey: [UInt8], publicKey: [UInt8])
        do {
            pair = try OpenSSLCrypto.generateKeyPair(spec)
        } catch {
            throw KMSError.internalError("could not generate a \(spec.rawValue) key pair")
        }
        let blob = try await encrypt(pair.privateKey, key: key, algorithm: .symmetricDefault,
                                     context: r.encryptionContext ?? [:], facts: facts)
        return GenerateDataKeyPairResponse(privateKeyCiphertextBlob: Data(blob),
                                           privateKeyPlaintext: withPlaintext ? Data(pair.privateKey) : nil,
                                           publicKey: Data(pair.publicKey), keyId: arn(key), keyPairSpec: spec)
    }
}
