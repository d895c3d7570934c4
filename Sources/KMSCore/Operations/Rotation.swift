import Foundation
import KMSModel

extension KMSEngine {
    private func checkRotatable(_ key: KeyRecord) throws {
        guard key.keySpec.supportsRotation else {
            throw KMSError.unsupported("\(arn(key)) is a \(key.keySpec.rawValue) key; only SYMMETRIC_DEFAULT keys rotate.")
        }
        if let store = key.customKeyStoreID {
            throw KMSError.unsupported("\(arn(key)) is in custom key store \(store); as in AWS, keys in custom key stores "
                + "do not rotate. Create a new key there and move to it.")
        }
        guard key.origin == .awsKMS else {
            throw KMSError.unsupported("\(arn(key)) has imported key material, which p11kms does not rotate.")
        }
    }

    public func enableKeyRotation(_ r: EnableKeyRotationRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let days = r.rotationPeriodInDays ?? 365
        let allowed = configuration.minimumRotationPeriodDays...KMSConfiguration.maximumRotationPeriodDays
        guard allowed.contains(days) else {
            var message = "RotationPeriodInDays must be between \(allowed.lowerBound) and \(allowed.upperBound); it is \(days)."
            if days >= 1 && days < allowed.lowerBound {
                message += " An operator can allow periods down to 1 day with [rotation] min_period_days in p11kmsd's configuration."
            }
            throw KMSError.validation(message)
        }
        try await changeAuthorizedKey(r.keyId, for: .enableKeyRotation, caller: caller, facts: facts) { key in
            try checkState(key, for: .enableKeyRotation)
            try checkRotatable(key)
            key.rotationEnabled = true
            key.rotationPeriodInDays = days
            key.nextRotationDate = clock.now.addingTimeInterval(Double(days) * 86_400)
        }
        return EmptyResponse()
    }

    public func disableKeyRotation(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try await changeAuthorizedKey(r.keyId, for: .disableKeyRotation, caller: caller, facts: facts) { key in
            try checkState(key, for: .disableKeyRotation)
            try checkRotatable(key)
            key.rotationEnabled = false
            key.nextRotationDate = nil
        }
        return EmptyResponse()
    }

    public func getKeyRotationStatus(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> GetKeyRotationStatusResponse {
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .getKeyRotationStatus, caller: caller, facts: facts)
        try checkState(key, for: .getKeyRotationStatus)
        try checkRotatable(key)
        return GetKeyRotationStatusResponse(keyRotationEnabled: key.rotationEnabled, keyId: arn(key),
                                            rotationPeriodInDays: key.rotationEnabled ? key.rotationPeriodInDays : nil,
                                            nextRotationDate: key.rotationEnabled ? key.nextRotationDate : nil)
    }

    public func rotateKeyOnDemand(_ r: KeyIdRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> KeyIdResponse {
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .rotateKeyOnDemand, caller: caller, facts: facts)
        try await rotate(keyID: key.keyID, type: .onDemand) { current in
            try authorize(.rotateKeyOnDemand, key: current, caller: caller, facts: facts)
            try checkState(current, for: .rotateKeyOnDemand)
            try checkRotatable(current)
            return true
        }
        return KeyIdResponse(keyId: arn(key))
    }

    public func listKeyRotations(_ r: ListKeyRotationsRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ListKeyRotationsResponse {
        let limit = try Validate.limit(r.limit)
        try Validate.marker(r.marker)
        let includeAll: Bool
        switch r.includeKeyMaterial {
        case nil, "ROTATIONS_ONLY": includeAll = false
        case "ALL_KEY_MATERIAL": includeAll = true
        case let other?: throw KMSError.validation("IncludeKeyMaterial must be ALL_KEY_MATERIAL or ROTATIONS_ONLY, not \(other).")
        }
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .listKeyRotations, caller: caller, facts: facts)
        try checkState(key, for: .listKeyRotations)
        try checkRotatable(key)
        var versions = try await store.versions(keyID: key.keyID).sorted { $0.version < $1.version }
        if !includeAll { versions.removeAll { $0.rotationType == nil } }
        if let marker = r.marker {
            guard let after = UInt32(marker) else { throw KMSError(.invalidMarker, "Marker is not one this service returned.") }
            versions.removeAll { $0.version <= after }
        }
        let shown = versions.prefix(limit)
        let truncated = versions.count > limit
        return ListKeyRotationsResponse(
            rotations: shown.map {
                RotationsListEntry(keyId: key.keyID, keyMaterialId: $0.keyMaterialID,
                                   keyMaterialState: $0.version == key.currentVersion ? "CURRENT" : "NON_CURRENT",
                                   rotationDate: $0.createdAt, rotationType: $0.rotationType)
            },
            nextMarker: truncated ? shown.last.map { String($0.version) } : nil, truncated: truncated)
    }

    /// Adds a version and makes it current, holding the key's lock, if
    /// `shouldRotate` (given the current record) says so; returns whether it
    /// did. The HSM step comes first; if the metadata commit fails the new
    /// material is destroyed again, and a crash in between leaves an orphan
    /// that start-up reconciliation removes.
    @discardableResult
    func rotate(keyID: String, type: RotationType,
                if shouldRotate: (KeyRecord) throws -> Bool = { _ in true }) async throws -> Bool {
        try await withKeyLock(keyID) {
            guard var key = try await store.key(id: keyID), let current = key.currentVersion else {
                throw KMSError.notFound("Key \(keyID) does not exist.")
            }
            guard try shouldRotate(key) else { return false }
            let now = clock.now
            let version = try await vault.createVersion(keyID: keyID, version: current + 1, spec: key.keySpec,
                                                        usage: key.keyUsage, rotationType: type, now: now)
            key.currentVersion = current + 1
            if type == .automatic, key.rotationEnabled, let days = key.rotationPeriodInDays {
                key.nextRotationDate = now.addingTimeInterval(Double(days) * 86_400)
            }
            do {
                try faults.commitPoint(.rotateKeyOnDemand)
                try await store.add(version, updating: key)
            } catch let error where !(error is SimulatedCrash) {
                try? await vault.destroy(version)
                throw error
            }
            return true
        }
    }
}
