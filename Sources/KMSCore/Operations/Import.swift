import Crypto
import Foundation
import KMSModel
import PKCS11

/// Bring your own key: the caller wraps key material to an RSA key pair the
/// HSM made, and the HSM unwraps it; the material is never in plaintext here.
extension KMSEngine {
    private func checkImportable(_ key: KeyRecord, _ operation: KMSOperation) throws {
        guard key.origin == .external else {
            throw KMSError.unsupported("\(arn(key)) was not created with Origin EXTERNAL, so it takes no imported material.")
        }
        try checkState(key, for: operation)
    }

    public func getParametersForImport(_ r: GetParametersForImportRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GetParametersForImportResponse {
        let algorithm = try Validate.required(r.wrappingAlgorithm, "WrappingAlgorithm")
        let spec = try Validate.required(r.wrappingKeySpec, "WrappingKeySpec")
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .getParametersForImport, caller: caller, facts: facts)
        try checkImportable(key, .getParametersForImport)
        let oaep: OAEPParameters = [.rsaesOAEPSHA1, .rsaAESKeyWrapSHA1].contains(algorithm) ? .sha1 : .sha256
        guard profile.supportsOAEP(oaep.hash) else {
            throw KMSError.unsupported("This HSM cannot unwrap with \(algorithm.rawValue): it lacks RSA-OAEP with "
                                       + "\(oaep.hash == .sha256 ? "SHA-256" : "SHA-1"). Use RSAES_OAEP_SHA_1 or RSA_AES_KEY_WRAP_SHA_1.")
        }
        if [.rsaAESKeyWrapSHA1, .rsaAESKeyWrapSHA256].contains(algorithm) && profile.rfc5649KeyWrap == nil {
            throw KMSError.unsupported("This HSM has no RFC 5649 AES key wrap, which \(algorithm.rawValue) needs.")
        }
        guard profile.supportsRSA(bits: spec.bits) else {
            throw KMSError.unsupported("This HSM cannot make \(spec.rawValue) keys.")
        }
        return try await withKeyLock(key.keyID) {
            if let old = try await store.importParameters(keyID: key.keyID) {
                try await destroyImportKeyPair(old.objectID)
            }
            let objectID = (0..<16).map { _ in UInt8.random(in: 0...255) }
            let label = KeyVault.importLabelPrefix + key.keyID
            let spki = try await pool.withTokenWrite { s -> [UInt8] in
                let options = KeyOptions(usage: [.wrap, .unwrap, .encrypt, .decrypt], token: true, label: label, id: objectID)
                let pair = try s.generateKeyPair(.rsa(bits: spec.bits), options)
                return try s.subjectPublicKeyInfo(of: pair.publicKey)
            }
            let token = Array("P11I".utf8) + (try await pool.withSession { try $0.generateRandom(count: 32) })
            let validTo = clock.now.addingTimeInterval(configuration.importParametersLifetime)
            try await store.put(ImportParametersRecord(keyID: key.keyID, importToken: token, wrappingAlgorithm: algorithm,
                                                       wrappingKeySpec: spec, objectID: objectID, publicKey: spki,
                                                       validTo: validTo))
            return GetParametersForImportResponse(keyId: arn(key), importToken: Data(token), publicKey: Data(spki),
                                                  parametersValidTo: validTo)
        }
    }

    public func importKeyMaterial(_ r: ImportKeyMaterialRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ImportKeyMaterialResponse {
        let token = try Validate.blob(r.importToken, "ImportToken", max: 6144)
        let encrypted = try Validate.blob(r.encryptedKeyMaterial, "EncryptedKeyMaterial", max: 6144)
        let model = r.expirationModel ?? (r.validTo == nil ? .keyMaterialDoesNotExpire : .keyMaterialExpires)
        switch (model, r.validTo) {
        case (.keyMaterialExpires, nil):
            throw KMSError.validation("ExpirationModel KEY_MATERIAL_EXPIRES needs ValidTo.")
        case (.keyMaterialDoesNotExpire, .some):
            throw KMSError.validation("ValidTo must be omitted with ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE.")
        case (_, let validTo?) where validTo <= clock.now:
            throw KMSError.validation("ValidTo must be in the future.")
        default:
            break
        }
        let named = try await authorizedKey(r.keyId, allowAlias: false, for: .importKeyMaterial, caller: caller, facts: facts)
        // The whole import is one change of the key: its current record,
        // re-authorised, under its lock.
        return try await withKeyLock(named.keyID) {
            guard var key = try await store.key(id: named.keyID) else { throw KMSError.notFound("Key \(arn(named)) does not exist.") }
            try authorize(.importKeyMaterial, key: key, caller: caller, facts: facts)
            try checkImportable(key, .importKeyMaterial)
            guard let parameters = try await store.importParameters(keyID: key.keyID),
                  constantTimeEqual(parameters.importToken, token) else {
                throw KMSError(.invalidImportToken, "The import token is not one GetParametersForImport issued for \(arn(key)).")
            }
            guard clock.now < parameters.validTo else {
                throw KMSError(.expiredImportToken, "The import token expired at \(parameters.validTo); call GetParametersForImport again.")
            }
            // The new version's object id is chosen before the unwrap, so that in
            // token mode the object is born labelled and a crash at any later
            // point leaves an orphan that start-up reconciliation recognises.
            let objectID = (0..<16).map { _ in UInt8.random(in: 0...255) }
            let (handle, check) = try await unwrapImported(encrypted, parameters: parameters, key: key, objectID: objectID)
            if let expected = key.importedMaterialCheck, !constantTimeEqual(expected, check) {
                _ = try? await pool.withTokenWrite { try $0.destroyObject(handle) }
                throw KMSError(.incorrectKeyMaterial, "This key material differs from the material first imported into \(arn(key)).")
            }
            let version = try await storeImported(handle, key: key, objectID: objectID)
            if let current = key.currentVersion, let old = try await store.version(keyID: key.keyID, version: current) {
                try await vault.destroy(old)
                try await store.deleteVersions(keyID: key.keyID, updating: key)
            }
            key.importedMaterialCheck = check
            key.currentVersion = version.version
            key.validTo = r.validTo
            key.expirationModel = model
            if key.state == .pendingImport { key.state = .enabled }
            do {
                try faults.commitPoint(.importKeyMaterial)
                try await store.add(version, updating: key)
            } catch let error where !(error is SimulatedCrash) {
                try? await vault.destroy(version)
                throw error
            }
            return ImportKeyMaterialResponse(keyId: arn(key), keyMaterialId: version.keyMaterialID)
        }
    }

    public func deleteImportedKeyMaterial(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> DeleteImportedKeyMaterialResponse {
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .deleteImportedKeyMaterial, caller: caller, facts: facts)
        let removed = try await removeImportedMaterial(key.keyID) { current in
            try authorize(.deleteImportedKeyMaterial, key: current, caller: caller, facts: facts)
            try checkImportable(current, .deleteImportedKeyMaterial)
            return true
        }
        return DeleteImportedKeyMaterialResponse(keyId: arn(key), keyMaterialId: removed.material)
    }

    /// Destroys imported material and returns the key to PendingImport,
    /// holding the key's lock, if `shouldRemove` (given the current record)
    /// says so. Returns whether it did, and the material id removed.
    func removeImportedMaterial(_ keyID: String, if shouldRemove: (KeyRecord) throws -> Bool)
        async throws -> (done: Bool, material: String?) {
        try await withKeyLock(keyID) {
            guard var key = try await store.key(id: keyID) else { throw KMSError.notFound("Key \(keyID) does not exist.") }
            guard try shouldRemove(key) else { return (false, nil) }
            let versions = try await store.versions(keyID: key.keyID)
            for v in versions { try await vault.destroy(v) }
            key.currentVersion = nil
            key.validTo = nil
            if key.state != .pendingDeletion { key.state = .pendingImport }
            try await store.deleteVersions(keyID: key.keyID, updating: key)
            return (true, versions.last?.keyMaterialID)
        }
    }

    func destroyImportKeyPair(_ objectID: [UInt8]) async throws {
        try await pool.withTokenWrite { s in
            for object in try s.findObjects([.token(true), .id(objectID)]) { try s.destroyObject(object) }
        }
    }

    /// Unwraps the material inside the HSM and computes its key check value.
    private func unwrapImported(_ encrypted: [UInt8], parameters: ImportParametersRecord, key: KeyRecord,
                                objectID versionObjectID: [UInt8]) async throws -> (ObjectHandle, [UInt8]) {
        let mode = configuration.keyStorage
        let spec = key.keySpec
        let template = importTemplate(spec: spec, usage: key.keyUsage, mode: mode)
            + (mode == .token ? [.label(KeyVault.versionLabelPrefix + "\(key.keyID)/v1"), .id(versionObjectID)] : [])
        let algorithm = parameters.wrappingAlgorithm
        let wrap = profile.rfc5649KeyWrap.map { Mechanism($0) }
        // The shortest key the HSM's HMAC mechanism takes, in bytes (0 for AES).
        let tokenMinimum = spec.macAlgorithms.first.flatMap { profile.mechanisms[$0.mechanismType]?.minKeySize } ?? 0
        let modulusBytes = parameters.wrappingKeySpec.bits / 8
        let objectID = parameters.objectID
        let result: (ObjectHandle, [UInt8])? = try await pool.withSession { s in
            guard let privateKey = try s.findObjects([.class(.privateKey), .token(true), .id(objectID)]).first else {
                return nil
            }
            let handle: ObjectHandle
            do {
                switch algorithm {
                case .rsaesOAEPSHA1, .rsaesOAEPSHA256:
                    handle = try s.unwrapKey(encrypted, with: privateKey,
                                             mechanism: .rsaOAEP(algorithm == .rsaesOAEPSHA1 ? .sha1 : .sha256),
                                             template: template)
                case .rsaAESKeyWrapSHA1, .rsaAESKeyWrapSHA256:
                    guard encrypted.count > modulusBytes, let wrap else { return nil }
                    let ephemeral = try s.unwrapKey(Array(encrypted.prefix(modulusBytes)), with: privateKey,
                                                    mechanism: .rsaOAEP(algorithm == .rsaAESKeyWrapSHA1 ? .sha1 : .sha256),
                                                    template: [.class(.secretKey), .keyType(.aes), .token(false),
                                                               .sensitive(true), .extractable(false),
                                                               Attribute(.unwrap, bool: true)])
                    defer { try? s.destroyObject(ephemeral) }
                    handle = try s.unwrapKey(Array(encrypted.dropFirst(modulusBytes)), with: ephemeral,
                                             mechanism: wrap, template: template)
                }
            } catch {
                return nil
            }
            guard let lengths = Self.unwrappedLength(s, handle, rfc5649: wrap),
                  Self.importLengthOK(lengths, spec, tokenMinimum: tokenMinimum) else {
                try? s.destroyObject(handle)
                throw KMSError(.incorrectKeyMaterial, "The key material has the wrong length for \(spec.rawValue).")
            }
            // The key check value also has the HSM check the key's size for
            // its mechanism; a refusal there is the caller's material too.
            let check: [UInt8]
            do {
                if spec == .symmetricDefault {
                    check = sha256(try s.encrypt([UInt8](repeating: 0, count: 16), key: handle, mechanism: Mechanism(.aesECB)))
                } else {
                    let mechanism = Mechanism(spec.macAlgorithms[0].mechanismType)
                    check = sha256(try s.sign(Array("p11kms key check value".utf8), key: handle, mechanism: mechanism))
                }
            } catch {
                try? s.destroyObject(handle)
                throw KMSError(.incorrectKeyMaterial, "The HSM refused the key material as a \(spec.rawValue) key.")
            }
            return (handle, check)
        }
        guard let result else {
            throw KMSError.invalidCiphertext
        }
        return result
    }

    /// The byte lengths an unwrapped secret key may have. Tokens should report
    /// CKA_VALUE_LEN, but SoftHSM2 leaves it 0 on unwrapped keys; then it is
    /// measured inside the HSM by wrapping the (still extractable) key under a
    /// throwaway AES key: RFC 5649's output is 8 + the length rounded up to a
    /// multiple of 8. (RFC 3394 cannot make it exact: SoftHSM2 pads there too.)
    static func unwrappedLength(_ s: Session, _ key: ObjectHandle, rfc5649: Mechanism?) -> ClosedRange<Int>? {
        if let reported = try? s.ulongAttribute(.valueLength, of: key), reported > 0 {
            return Int(reported)...Int(reported)
        }
        guard let rfc5649, let ephemeral = try? s.generateKey(.aes(bits: 256), KeyOptions(usage: [.wrap])) else {
            return nil
        }
        defer { try? s.destroyObject(ephemeral) }
        guard let padded = try? s.wrapKey(key, with: ephemeral, mechanism: rfc5649), padded.count >= 16 else { return nil }
        let rounded = padded.count - 8
        return (rounded - 7)...rounded
    }

    /// The key lengths AWS accepts for imported material of `spec`.
    static func importLengths(_ spec: KeySpec) -> ClosedRange<Int>? {
        switch spec {
        case .symmetricDefault: 32...32
        case .hmac224: 28...64
        case .hmac256: 32...64
        case .hmac384: 48...128
        case .hmac512: 64...128
        default: nil
        }
    }

    /// Whether material whose length lies in `lengths` is right for `spec`.
    /// A measured length is known only to 8 bytes, and AWS's maximums are
    /// multiples of 8. Where the window straddles the minimum, the HSM decides
    /// when it makes the key check value: AES keys are 16, 24 or 32 bytes, so
    /// 25 to 31 fail there; HMAC keys below the mechanism's minimum fail there
    /// too, trusted only when that minimum is at least AWS's (SoftHSM2: 28,
    /// 32, 48, 64 bytes, exactly AWS's).
    static func importLengthOK(_ lengths: ClosedRange<Int>, _ spec: KeySpec, tokenMinimum: Int) -> Bool {
        guard let allowed = importLengths(spec), allowed.contains(lengths.upperBound) else { return false }
        if allowed.contains(lengths.lowerBound) { return true }
        if spec == .symmetricDefault { return lengths.lowerBound > 24 }
        return tokenMinimum >= allowed.lowerBound
    }

    private func importTemplate(spec: KeySpec, usage: KeyUsageType, mode: KeyStorageMode) -> [Attribute] {
        var template = KeyVault.unwrapTemplate(spec: spec, usage: usage)
        template.removeAll { [.token, .extractable].contains($0.type) }
        // Extractable until its length is measured (and, in wrapped mode, it is
        // wrapped under the domain key); token objects are locked before use.
        template += [.token(mode == .token), .extractable(true)]
        if spec == .symmetricDefault {
            // The key check value is an ECB encryption of a zero block.
            template.removeAll { $0.type == .encrypt }
            template.append(Attribute(.encrypt, bool: true))
        }
        return template
    }

    /// Makes the unwrapped object a version: labelled token object, or
    /// wrapped under the domain key and locked.
    private func storeImported(_ handle: ObjectHandle, key: KeyRecord, objectID: [UInt8]) async throws -> VersionRecord {
        let mode = configuration.keyStorage
        let wrap = try? profile.rfc5649WrapMechanism()
        // Imported material is wrapped under the key's own KEK too, so that
        // deleting the key destroys it.
        let kek: ObjectHandle?
        do {
            kek = mode == .wrapped ? try await vault.ensureKEK(for: key.keyID) : nil
        } catch {
            _ = try? await pool.withTokenWrite { s in try s.destroyObject(handle) }
            throw error
        }
        let blob: [UInt8]? = try await pool.withTokenWrite { s in
            if mode == .token {
                do {
                    try s.setAttributes([.extractable(false)], of: handle)
                } catch {
                    try? s.destroyObject(handle)
                    throw error
                }
                return nil
            }
            guard let wrap, let kek else {
                try? s.destroyObject(handle)
                throw KMSError.internalError("the token has no RFC 5649 key wrap for wrapped storage")
            }
            defer { try? s.destroyObject(handle) }
            let blob = try s.wrapKey(handle, with: kek, mechanism: wrap)
            return blob
        }
        let version = VersionRecord(keyID: key.keyID, version: 1, createdAt: clock.now, rotationType: nil, storage: mode,
                                    objectID: objectID, wrappedKey: blob, publicKey: nil)
        if mode == .token { try await vault.adopt(version, handle: handle) }
        return version
    }
}
