import Foundation
import KMSModel

extension KMSEngine {
    /// The policy of a key created without one: its creator and the
    /// configured admins may do everything.
    static func defaultPolicy(creator: Principal, admins: PrincipalSet = PrincipalSet()) -> String {
        func statement(_ sid: String, _ principal: [String: Any]) -> [String: Any] {
            ["Sid": sid, "Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"]
        }
        var creatorPrincipal: [String: Any]
        if let accessKey = creator.accessKeyName {
            creatorPrincipal = ["AWS": [accessKey]]
        } else {
            var unix: [String: Any] = ["Uid": [creator.uid]]
            if let user = creator.userName { unix["User"] = [user] }
            creatorPrincipal = ["Unix": unix]
        }
        var statements = [statement("Allow the key's creator everything", creatorPrincipal)]
        var adminFields: [String: Any] = [:]
        if !admins.uids.isEmpty { adminFields["Uid"] = admins.uids.sorted() }
        if !admins.users.isEmpty { adminFields["User"] = admins.users.sorted() }
        if !admins.gids.isEmpty { adminFields["Gid"] = admins.gids.sorted() }
        if !admins.groups.isEmpty { adminFields["Group"] = admins.groups.sorted() }
        var adminPrincipal: [String: Any] = [:]
        if !adminFields.isEmpty { adminPrincipal["Unix"] = adminFields }
        if !admins.accessKeys.isEmpty { adminPrincipal["AWS"] = admins.accessKeys.sorted() }
        if !adminPrincipal.isEmpty { statements.append(statement("Allow the configured admins everything", adminPrincipal)) }
        let document: [String: Any] = ["Version": "2012-10-17", "Id": "p11kms-default", "Statement": statements]
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys,
                                                                                   .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses a policy and, unless bypassed or the caller is an admin, makes
    /// sure it still lets the caller change it (AWS's lockout safety check).
    func checkedPolicy(_ document: String?, caller: Principal, bypass: Bool?) throws -> String {
        let text = try Validate.policy(document)
        let policy = try KeyPolicy.parse(text)
        if bypass == true || configuration.accessControl.admins.contains(caller) { return text }
        let request = AuthorizationRequest(action: "kms:PutKeyPolicy", principal: caller)
        guard policy.evaluate(request).isAllowed else {
            throw KMSError(.malformedPolicyDocument,
                           "The new key policy will not allow you (\(caller.summary)) to update the key policy in the future; "
                           + "allow kms:PutKeyPolicy for yourself or set BypassPolicyLockoutSafetyCheck.")
        }
        return text
    }

    public func createKey(_ r: CreateKeyRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> CreateKeyResponse {
        try authorizeService(.createKey, caller: caller)
        if let legacy = r.customerMasterKeySpec, let spec = r.keySpec, legacy != spec {
            throw KMSError.validation("KeySpec and CustomerMasterKeySpec differ; give only KeySpec.")
        }
        let spec = r.keySpec ?? r.customerMasterKeySpec ?? .symmetricDefault
        // AWS defaults KeyUsage only for SYMMETRIC_DEFAULT; every other spec
        // (HMAC included) has more than one use, or one it will not guess.
        guard let usage = r.keyUsage ?? (spec == .symmetricDefault ? .encryptDecrypt : nil) else {
            throw KMSError.validation("KeyUsage is required for KeySpec \(spec.rawValue), as for every key but SYMMETRIC_DEFAULT; "
                                      + "give \(spec.allowedUsages.map(\.rawValue).joined(separator: " or ")).")
        }
        guard spec.allowedUsages.contains(usage) else {
            throw KMSError.validation("KeyUsageType \(usage.rawValue) is not valid for KeySpec \(spec.rawValue); "
                                      + "use \(spec.allowedUsages.map(\.rawValue).joined(separator: " or ")).")
        }
        if r.xksKeyId != nil {
            throw KMSError.unsupported("XksKeyId names a key in an external key store, which p11kmsd does not use; see the "
                + "XKS proxy feature for the other direction.")
        }
        if r.multiRegion == true { throw KMSError.unsupported("Multi-Region keys are not supported.") }
        let origin = r.origin ?? .awsKMS
        // A custom key store (an extra token): symmetric keys only, Origin AWS_CLOUDHSM, as in AWS.
        var keyVault = vault
        if let storeID = r.customKeyStoreId {
            guard origin == .awsCloudHSM else {
                throw KMSError.validation("A key in a custom key store needs Origin AWS_CLOUDHSM.")
            }
            guard spec == .symmetricDefault && usage == .encryptDecrypt else {
                throw KMSError.unsupported("Custom key stores hold SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys only, as in AWS.")
            }
            _ = try await customKeyStore(storeID)
            keyVault = try connectedStore(storeID).vault
        } else if origin == .awsCloudHSM {
            throw KMSError.validation("Origin AWS_CLOUDHSM needs a CustomKeyStoreId: the custom key store to create the key in.")
        }
        if origin == .external && spec.isAsymmetric {
            throw KMSError.unsupported("Importing key material is supported for SYMMETRIC_DEFAULT and HMAC keys.")
        }
        guard spec.isSupported(by: profile, usage: usage) else {
            throw KMSError.unsupported("KeySpec \(spec.rawValue) with KeyUsage \(usage.rawValue) is not supported by this HSM "
                                       + "(\(profile.manufacturerID) \(profile.model))"
                                       + (usage == .keyAgreement ? ": it does not offer CKM_ECDH1_DERIVE." : "."))
        }
        try Validate.description(r.description)
        let tags = r.tags ?? []
        try Validate.tags(tags)
        guard tags.count <= Validate.maximumTagsPerKey else {
            throw KMSError(.tag, "A key may have at most \(Validate.maximumTagsPerKey) tags.")
        }
        let policy = try r.policy.map { try checkedPolicy($0, caller: caller, bypass: r.bypassPolicyLockoutSafetyCheck) }
            ?? Self.defaultPolicy(creator: caller, admins: configuration.accessControl.admins)

        let now = clock.now
        let keyID = KeyIdentifier.newKeyID()
        // On the audit line, so the key's history starts with its creation
        // (if the creation fails, the line names the id that was never made).
        facts.note(keyID: keyID, version: 1)
        var key = KeyRecord(keyID: keyID, createdAt: now, description: r.description ?? "", keySpec: spec, keyUsage: usage,
                            origin: origin, state: origin == .external ? .pendingImport : .enabled, policy: policy,
                            tags: tags)
        key.customKeyStoreID = r.customKeyStoreId
        var version: VersionRecord?
        if origin == .awsKMS || origin == .awsCloudHSM {
            version = try await keyVault.createVersion(keyID: keyID, version: 1, spec: spec, usage: usage,
                                                       rotationType: nil, now: now)
            key.currentVersion = 1
        }
        do {
            try faults.commitPoint(.createKey)
            try await store.insert(key, version: version)
        } catch let error where !(error is SimulatedCrash) {
            // Nothing refers to the new material: take it out of the HSM again.
            if let version { try? await keyVault.destroy(version) }
            throw error
        }
        return CreateKeyResponse(keyMetadata: try await metadata(key))
    }

    public func describeKey(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> DescribeKeyResponse {
        try Validate.grantTokens(r.grantTokens)
        let key = try await authorizedKey(r.keyId, for: .describeKey, caller: caller, facts: facts)
        return DescribeKeyResponse(keyMetadata: try await metadata(key))
    }

    public func listKeys(_ r: ListKeysRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ListKeysResponse {
        try authorizeService(.listKeys, caller: caller)
        let limit = try Validate.limit(r.limit)
        try Validate.marker(r.marker)
        if let marker = r.marker, UUID(uuidString: marker) == nil {
            throw KMSError(.invalidMarker, "Marker is not one this service returned.")
        }
        let page = try await store.keys(after: r.marker, limit: limit + 1)
        let shown = page.prefix(limit)
        let truncated = page.count > limit
        return ListKeysResponse(keys: shown.map { KeyListEntry(keyId: $0.keyID, keyArn: arn($0)) },
                                nextMarker: truncated ? shown.last?.keyID : nil, truncated: truncated)
    }

    public func updateKeyDescription(_ r: UpdateKeyDescriptionRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let description = try Validate.required(r.description, "Description")
        try Validate.description(description)
        try await changeAuthorizedKey(r.keyId, for: .updateKeyDescription, caller: caller, facts: facts) { key in
            try checkState(key, for: .updateKeyDescription)
            key.description = description
        }
        return EmptyResponse()
    }

    public func enableKey(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try await changeAuthorizedKey(r.keyId, for: .enableKey, caller: caller, facts: facts) { key in
            try checkState(key, for: .enableKey)
            key.state = .enabled
        }
        return EmptyResponse()
    }

    public func disableKey(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try await changeAuthorizedKey(r.keyId, for: .disableKey, caller: caller, facts: facts) { key in
            try checkState(key, for: .disableKey)
            key.state = .disabled
        }
        return EmptyResponse()
    }

    public func scheduleKeyDeletion(_ r: ScheduleKeyDeletionRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ScheduleKeyDeletionResponse {
        let days = r.pendingWindowInDays ?? 30
        try Validate.range(days, "PendingWindowInDays", 7...30)
        let date = clock.now.addingTimeInterval(Double(days) * 86_400)
        let keyID = try await changeAuthorizedKey(r.keyId, for: .scheduleKeyDeletion, caller: caller, facts: facts) { key in
            try checkState(key, for: .scheduleKeyDeletion)
            key.state = .pendingDeletion
            key.deletionDate = date
            key.pendingWindowInDays = days
            return key.keyID
        }
        return ScheduleKeyDeletionResponse(keyId: configuration.arn.keyARN(keyID), deletionDate: date,
                                           keyState: .pendingDeletion, pendingWindowInDays: days)
    }

    public func cancelKeyDeletion(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> KeyIdResponse {
        let keyID = try await changeAuthorizedKey(r.keyId, for: .cancelKeyDeletion, caller: caller, facts: facts) { key in
            guard key.state == .pendingDeletion else {
                throw KMSError.invalidState("\(arn(key)) is not pending deletion.")
            }
            // As in AWS, a key whose deletion is cancelled comes back disabled.
            key.state = key.currentVersion == nil && key.origin == .external ? .pendingImport : .disabled
            key.deletionDate = nil
            key.pendingWindowInDays = nil
            return key.keyID
        }
        return KeyIdResponse(keyId: configuration.arn.keyARN(keyID))
    }
}
