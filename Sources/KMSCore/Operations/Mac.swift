import Foundation
import KMSModel
import PKCS11

extension KMSEngine {
    private func macKey(_ keyId: String?, _ message: Data?, _ algorithm: MacAlgorithm?, _ grantTokens: [String]?,
                        _ operation: KMSOperation, _ caller: Principal, facts: AuditFacts) async throws -> (KeyRecord, [UInt8], MacAlgorithm) {
        let message = try Validate.plaintext(message, "Message")
        let algorithm = try Validate.required(algorithm, "MacAlgorithm")
        try Validate.grantTokens(grantTokens)
        let key = try await authorizedKey(keyId, for: operation, caller: caller, facts: facts,
                                          conditions: RequestConditions().with("kms:MacAlgorithm", algorithm.rawValue))
        try checkState(key, for: operation)
        try checkUsage(key, .generateVerifyMac, for: operation)
        guard key.keySpec.macAlgorithms.contains(algorithm) else {
            throw KMSError.invalidKeyUsage("\(arn(key)) does not support MacAlgorithm \(algorithm.rawValue); it supports "
                                           + "\(key.keySpec.macAlgorithms.map(\.rawValue).joined(separator: ", ")).")
        }
        return (key, message, algorithm)
    }

    public func generateMac(_ r: GenerateMacRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GenerateMacResponse {
        let (key, message, algorithm) = try await macKey(r.keyId, r.message, r.macAlgorithm, r.grantTokens, .generateMac, caller, facts: facts)
        try dryRun(r.dryRun)
        let version = try await currentVersion(key, facts: facts)
        let mechanism = Mechanism(algorithm.mechanismType)
        let mac = try await vault(for: key).withKey(version, spec: key.keySpec, usage: key.keyUsage) { s, h in
            try s.sign(message, key: h.key, mechanism: mechanism)
        }
        return GenerateMacResponse(mac: Data(mac), macAlgorithm: algorithm, keyId: arn(key))
    }

    /// The MAC is checked inside the HSM (`C_Verify`), so no MAC we compute
    /// ever leaves it and the comparison is the token's constant-time one.
    public func verifyMac(_ r: VerifyMacRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> VerifyMacResponse {
        let (key, message, algorithm) = try await macKey(r.keyId, r.message, r.macAlgorithm, r.grantTokens, .verifyMac, caller, facts: facts)
        let mac = try Validate.blob(r.mac, "Mac", max: 6144)
        try dryRun(r.dryRun)
        let version = try await currentVersion(key, facts: facts)
        let mechanism = Mechanism(algorithm.mechanismType)
        let valid = try await vault(for: key).withKey(version, spec: key.keySpec, usage: key.keyUsage) { s, h in
            try s.verify(message, signature: mac, key: h.key, mechanism: mechanism)
        }
        guard valid else { throw KMSError(.kmsInvalidMac, "The MAC is not valid for this key, message and algorithm.") }
        return VerifyMacResponse(keyId: arn(key), macValid: true, macAlgorithm: algorithm)
    }

    public func generateRandom(_ r: GenerateRandomRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GenerateRandomResponse {
        try authorizeService(.generateRandom, caller: caller)
        let count = try Validate.required(r.numberOfBytes, "NumberOfBytes")
        try Validate.range(count, "NumberOfBytes", 1...1024)
        // From a custom key store's token when one is named, as in AWS.
        var source = pool
        if let storeID = r.customKeyStoreId {
            _ = try await customKeyStore(storeID)
            source = try connectedStore(storeID).pool
        }
        let bytes = try await source.withSession { try $0.generateRandom(count: count) }
        return GenerateRandomResponse(plaintext: Data(bytes))
    }
}
