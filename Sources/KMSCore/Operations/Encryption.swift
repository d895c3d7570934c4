import Foundation
import KMSModel
import PKCS11

extension KMSEngine {
    public func encrypt(_ r: EncryptRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EncryptResponse {
        let plaintext = try Validate.plaintext(r.plaintext)
        try EncryptionContext.validate(r.encryptionContext)
        try Validate.grantTokens(r.grantTokens)
        let key = try await authorizedKey(
            r.keyId, for: .encrypt, caller: caller, facts: facts,
            conditions: .context(r.encryptionContext).with("kms:EncryptionAlgorithm", (r.encryptionAlgorithm ?? .symmetricDefault).rawValue))
        facts.note(context: r.encryptionContext)
        try checkState(key, for: .encrypt)
        try checkUsage(key, .encryptDecrypt, for: .encrypt)
        let algorithm = try encryptionAlgorithm(r.encryptionAlgorithm, for: key, context: r.encryptionContext)
        try dryRun(r.dryRun)
        let blob = try await encrypt(plaintext, key: key, algorithm: algorithm, context: r.encryptionContext ?? [:],
                                     facts: facts)
        return EncryptResponse(ciphertextBlob: Data(blob), keyId: arn(key), encryptionAlgorithm: algorithm)
    }

    public func decrypt(_ r: DecryptRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> DecryptResponse {
        let ciphertext = try Validate.ciphertext(r.ciphertextBlob)
        try EncryptionContext.validate(r.encryptionContext)
        try Validate.grantTokens(r.grantTokens)
        let (key, plaintext, algorithm, material) = try await decrypt(
            ciphertext, keyId: r.keyId, algorithm: r.encryptionAlgorithm, context: r.encryptionContext ?? [:],
            dryRun: r.dryRun, operation: .decrypt, caller: caller, facts: facts, action: "kms:Decrypt")
        return DecryptResponse(keyId: arn(key), plaintext: Data(plaintext), encryptionAlgorithm: algorithm,
                               keyMaterialId: material)
    }

    public func reEncrypt(_ r: ReEncryptRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ReEncryptResponse {
        let ciphertext = try Validate.ciphertext(r.ciphertextBlob)
        try EncryptionContext.validate(r.sourceEncryptionContext)
        try EncryptionContext.validate(r.destinationEncryptionContext)
        try Validate.grantTokens(r.grantTokens)
        let destination = try await authorizedKey(
            r.destinationKeyId, member: "DestinationKeyId", for: .reEncrypt, action: "kms:ReEncryptTo", caller: caller, facts: facts,
            conditions: .context(r.destinationEncryptionContext)
                .with("kms:EncryptionAlgorithm", (r.destinationEncryptionAlgorithm ?? .symmetricDefault).rawValue))
        try checkState(destination, for: .reEncrypt)
        try checkUsage(destination, .encryptDecrypt, for: .reEncrypt)
        let destinationAlgorithm = try encryptionAlgorithm(r.destinationEncryptionAlgorithm, for: destination,
                                                           context: r.destinationEncryptionContext)
        let (source, plaintext, sourceAlgorithm, _) = try await decrypt(
            ciphertext, keyId: r.sourceKeyId, algorithm: r.sourceEncryptionAlgorithm,
            context: r.sourceEncryptionContext ?? [:], dryRun: r.dryRun, operation: .reEncrypt, caller: caller, facts: facts,
            action: "kms:ReEncryptFrom")
        let blob = try await encrypt(plaintext, key: destination, algorithm: destinationAlgorithm,
                                     context: r.destinationEncryptionContext ?? [:], facts: facts)
        return ReEncryptResponse(ciphertextBlob: Data(blob), sourceKeyId: arn(source), keyId: arn(destination),
                                 sourceEncryptionAlgorithm: sourceAlgorithm,
                                 destinationEncryptionAlgorithm: destinationAlgorithm)
    }

    func dryRun(_ flag: Bool?) throws {
        if flag == true {
            throw KMSError(.dryRunOperation, "The request would have succeeded, but DryRun was set.")
        }
    }

    private func encryptionAlgorithm(_ requested: EncryptionAlgorithm?, for key: KeyRecord,
                                     context: [String: String]?) throws -> EncryptionAlgorithm {
        let allowed = key.keySpec.encryptionAlgorithms(usage: key.keyUsage)
        let algorithm = requested ?? .symmetricDefault
        guard allowed.contains(algorithm) else {
            throw KMSError.invalidKeyUsage("\(arn(key)) does not support EncryptionAlgorithm \(algorithm.rawValue); "
                                           + "it supports \(allowed.map(\.rawValue).joined(separator: ", ")).")
        }
        if algorithm != .symmetricDefault, let context, !context.isEmpty {
            throw KMSError.validation("EncryptionContext is supported only with symmetric keys.")
        }
        return algorithm
    }

    /// Encrypts under the key's current version (symmetric) or public key (RSA).
    func encrypt(_ plaintext: [UInt8], key: KeyRecord, algorithm: EncryptionAlgorithm,
                 context: [String: String], facts: AuditFacts) async throws -> [UInt8] {
        if let oaep = algorithm.oaep {
            let version = try await currentVersion(key, facts: facts)
            guard let spki = version.publicKey else { throw KMSError.internalError("RSA key without a public key") }
            do {
                return try OpenSSLCrypto.rsaOAEPEncrypt(spki: spki, sha256: oaep.hash == .sha256, plaintext: plaintext)
            } catch {
                throw KMSError.validation("Plaintext is too long for \(key.keySpec.rawValue) with \(algorithm.rawValue).")
            }
        }
        let version = try await versionForEncryption(key, facts: facts)
        let aad = CiphertextBlob.aad(keyID: key.keyID, version: version.version, context: context)
        let keyVault = try vault(for: key)
        let ivPolicy = keyVault.profile.gcmIVPolicy
        let box = try await keyVault.withKey(version, spec: key.keySpec, usage: key.keyUsage) { s, h in
            try s.aesGCMSeal(plaintext, key: h.key, aad: aad, ivPolicy: ivPolicy)
        }
        return CiphertextBlob(keyID: key.keyID, version: version.version, iv: box.iv, ciphertext: box.ciphertext,
                              tag: box.tag).serialized
    }

    /// Decrypts a symmetric blob (key found from its header) or an RSA
    /// ciphertext (KeyId required). Every failure of the ciphertext itself is
    /// the same `InvalidCiphertextException`.
    func decrypt(_ ciphertext: [UInt8], keyId: String?, algorithm: EncryptionAlgorithm?, context: [String: String],
                 dryRun flag: Bool?, operation: KMSOperation, caller: Principal, facts: AuditFacts, action: String)
        async throws -> (KeyRecord, [UInt8], EncryptionAlgorithm, String?) {
        let algorithm = algorithm ?? .symmetricDefault
        let conditions = RequestConditions.context(context).with("kms:EncryptionAlgorithm", algorithm.rawValue)
        facts.note(context: context)
        if let oaep = algorithm.oaep {
            let key = try await authorizedKey(keyId, for: operation, action: action, caller: caller, facts: facts, conditions: conditions)
            try checkState(key, for: operation)
            try checkUsage(key, .encryptDecrypt, for: operation)
            guard key.keySpec.encryptionAlgorithms(usage: key.keyUsage).contains(algorithm) else {
                throw KMSError.invalidKeyUsage("\(arn(key)) does not support EncryptionAlgorithm \(algorithm.rawValue).")
            }
            if !context.isEmpty { throw KMSError.validation("EncryptionContext is supported only with symmetric keys.") }
            try dryRun(flag)
            let version = try await currentVersion(key, facts: facts)
            let plaintext = try await rsaDecrypt(ciphertext, key: key, version: version, oaep: oaep)
            return (key, plaintext, algorithm, version.keyMaterialID)
        }
        let blob = try CiphertextBlob.parse(ciphertext)
        guard let key = try await store.key(id: blob.keyID) else { throw KMSError.invalidCiphertext }
        var symmetricConditions = conditions
        if let keyId, case .aliasName(let alias)? = try? KeyIdentifier.parse(keyId, arn: configuration.arn) {
            symmetricConditions = symmetricConditions.with("kms:RequestAlias", alias)
        }
        try authorize(operation, key: key, caller: caller, facts: facts, action: action, conditions: symmetricConditions)
        facts.note(version: blob.version)
        if let keyId {
            let named = try await resolveKey(keyId)
            guard named.keyID == key.keyID else {
                throw KMSError(.incorrectKey, "The ciphertext was not made under the key named by KeyId.")
            }
        }
        try checkState(key, for: operation)
        try checkUsage(key, .encryptDecrypt, for: operation)
        guard key.keySpec == .symmetricDefault else { throw KMSError.invalidCiphertext }
        try dryRun(flag)
        guard let version = try await store.version(keyID: key.keyID, version: blob.version) else {
            throw KMSError.invalidCiphertext
        }
        let aad = CiphertextBlob.aad(keyID: key.keyID, version: blob.version, context: context)
        let box = GCMSealedBox(iv: blob.iv, ciphertext: blob.ciphertext, tag: blob.tag)
        do {
            let plaintext = try await vault(for: key).withKey(version, spec: key.keySpec, usage: key.keyUsage) { s, h in
                try s.aesGCMOpen(box, key: h.key, aad: aad)
            }
            return (key, plaintext, .symmetricDefault, version.keyMaterialID)
        } catch is PKCS11Error {
            throw KMSError.invalidCiphertext
        }
    }

    private func rsaDecrypt(_ ciphertext: [UInt8], key: KeyRecord, version: VersionRecord,
                            oaep: OAEPParameters) async throws -> [UInt8] {
        let modulusBytes: Int = switch key.keySpec {
        case .rsa3072: 384
        case .rsa4096: 512
        default: 256
        }
        guard ciphertext.count == modulusBytes else { throw KMSError.invalidCiphertext }
        let native = profile.supportsOAEP(oaep.hash)
        let result: [UInt8]? = try await vault(for: key).withKey(version, spec: key.keySpec, usage: key.keyUsage) { s, h in
            if native {
                return try? s.decrypt(ciphertext, key: h.key, mechanism: .rsaOAEP(oaep), expectedLength: modulusBytes)
            }
            // The token lacks this OAEP hash: raw RSA inside the HSM, padding
            // removed outside in constant time, one uniform failure.
            guard let block = try? s.decrypt(ciphertext, key: h.key, mechanism: .rsaX509Raw, expectedLength: modulusBytes)
            else { return nil }
            return OpenSSLCrypto.oaepUnpad(block: block, sha256: oaep.hash == .sha256)
        }
        guard let result else { throw KMSError.invalidCiphertext }
        return result
    }

    /// The version new encryptions use, counting against its random-IV
    /// budget; a version that has used its budget is rotated first.
    func versionForEncryption(_ key: KeyRecord, facts: AuditFacts) async throws -> VersionRecord {
        var key = key
        for _ in 0..<3 {
            let version = try await currentVersion(key, facts: facts)
            facts.note(version: version.version)
            if try await countEncryption(key.keyID, version) { return version }
            // Budget spent: rotate (once, whoever gets there first) and retry.
            guard key.origin == .awsKMS else {
                let what = key.customKeyStoreID == nil ? "its imported material" : "its material in a custom key store, which does not rotate"
                throw KMSError.invalidState("\(arn(key)) has used its encryption budget of \(configuration.encryptionBudget) for \(what); it can "
                                            + "still decrypt. Encrypt under a new key.")
            }
            let spent = version.version
            try await rotate(keyID: key.keyID, type: .automatic) { $0.currentVersion == spent }
            guard let reloaded = try await store.key(id: key.keyID) else { throw KMSError.notFound("Key \(key.keyID) is gone.") }
            key = reloaded
        }
        throw KMSError.internalError("could not find a key version with encryptions left")
    }

    private enum CountStep {
        case counted
        case spent
        case wait(Task<Void, any Error>)
    }

    /// Counts one encryption under `version`'s budget: false if the budget
    /// is spent. Only encryptions within the lease the store holds are
    /// counted; past half of it the next lease is written in the background,
    /// and a request that finds the lease used up waits for that write.
    func countEncryption(_ keyID: String, _ version: VersionRecord) async throws -> Bool {
        let name = "\(keyID)/\(version.version)"
        let budget = configuration.encryptionBudget
        let lease = configuration.encryptionLease
        while true {
            let step = encryptionCounters.withLock { counters -> CountStep in
                var c = counters[name] ?? EncryptionCounter(used: version.encryptionsReserved,
                                                            reserved: version.encryptionsReserved)
                guard c.used < budget else { return .spent }
                if c.renewal == nil, c.reserved < budget, c.used + max(1, lease / 2) >= c.reserved {
                    let target = min(c.reserved + lease, budget)
                    c.renewal = Task { [self] in
                        do {
                            try await store.reserveEncryptions(keyID: keyID, version: version.version, reserved: target)
                        } catch {
                            encryptionCounters.withLock { $0[name]?.renewal = nil }
                            throw error
                        }
                        encryptionCounters.withLock { counters in
                            guard var c = counters[name] else { return }
                            c.reserved = max(c.reserved, target)
                            c.renewal = nil
                            counters[name] = c
                        }
                    }
                }
                defer { counters[name] = c }
                guard c.used < c.reserved else { return .wait(c.renewal!) }
                c.used += 1
                return .counted
            }
            switch step {
            case .counted: return true
            case .spent: return false
            case .wait(let renewal): try await renewal.value
            }
        }
    }
}
