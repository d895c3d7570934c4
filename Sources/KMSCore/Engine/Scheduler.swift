import Foundation

/// Time-driven work: automatic rotation, deletion after the pending window,
/// expiry of imported material and of import parameters. The daemon calls
/// `runScheduledTasks()` periodically; tests call it after moving the clock.
extension KMSEngine {
    public struct ScheduledWork: Sendable, Hashable {
        public var rotated: [String] = []
        public var deleted: [String] = []
        public var expiredMaterial: [String] = []
        public var expiredImportParameters: Int = 0
        /// Imported material that expires within `importExpiryWarning`.
        public var importExpiring: [String] = []
        /// Keys whose rotation is due and did not happen: disabled, or the
        /// rotation failed (it is retried next run).
        public var rotationOverdue: [String] = []
        public var failures: [String] = []
    }

    /// How early `importExpiring` names imported material before its ValidTo.
    public static let importExpiryWarning: TimeInterval = 7 * 86_400

    public func runScheduledTasks() async throws -> ScheduledWork {
        var work = ScheduledWork()
        let now = clock.now
        var marker: String?
        while true {
            let page = try await store.keys(after: marker, limit: 500)
            for key in page {
                // The page is a moment old: each action re-reads its key under
                // the key's lock and acts only if the reason still holds, so a
                // change acknowledged meanwhile (a cancelled deletion, a
                // disabled key) is never undone.
                var rotationFailed = false
                do {
                    if key.state == .pendingDeletion, let date = key.deletionDate, date <= now {
                        if try await deleteKeyNow(key.keyID, dueBy: now) { work.deleted.append(key.keyID) }
                    } else if key.state == .enabled, key.rotationEnabled, let next = key.nextRotationDate, next <= now {
                        rotationFailed = true
                        let rotated = try await rotate(keyID: key.keyID, type: .automatic) { fresh in
                            guard fresh.state == .enabled, fresh.rotationEnabled, let next = fresh.nextRotationDate else { return false }
                            return next <= now
                        }
                        rotationFailed = false
                        if rotated { work.rotated.append(key.keyID) }
                    } else if key.expirationModel == .keyMaterialExpires, let validTo = key.validTo, validTo <= now,
                              key.currentVersion != nil {
                        let removed = try await removeImportedMaterial(key.keyID) { fresh in
                            guard fresh.expirationModel == .keyMaterialExpires, let validTo = fresh.validTo else { return false }
                            return validTo <= now && fresh.currentVersion != nil
                        }
                        if removed.done { work.expiredMaterial.append(key.keyID) }
                    }
                } catch {
                    // One key's failure must not stop the others; it is retried next run.
                    work.failures.append("\(key.keyID): \(error)")
                }
                // Due and not rotated: the rotation failed, or the key is not
                // enabled (AWS rotates a disabled key only once it is enabled again).
                if key.rotationEnabled, let next = key.nextRotationDate, next <= now,
                   rotationFailed || (key.state != .enabled && key.state != .pendingDeletion) {
                    work.rotationOverdue.append(key.keyID)
                }
                if key.expirationModel == .keyMaterialExpires, key.currentVersion != nil, let validTo = key.validTo,
                   validTo > now, validTo.timeIntervalSince(now) <= Self.importExpiryWarning {
                    work.importExpiring.append(key.keyID)
                }
            }
            guard page.count == 500 else { break }
            marker = page.last?.keyID
        }
        for parameters in try await store.allImportParameters() where parameters.validTo <= now {
            let expired = try await withKeyLock(parameters.keyID) {
                // Replaced by a newer GetParametersForImport meanwhile: not expired.
                guard let current = try await store.importParameters(keyID: parameters.keyID),
                      current.importToken == parameters.importToken else { return false }
                try await destroyImportKeyPair(parameters.objectID)
                try await store.deleteImportParameters(keyID: parameters.keyID)
                return true
            }
            if expired { work.expiredImportParameters += 1 }
        }
        return work
    }

    /// The end of a key, if it is still pending deletion due by `now`: its
    /// HSM objects (or cached unwrapped copies) are destroyed first, then
    /// every metadata row, so nothing that remains claims material that is gone.
    private func deleteKeyNow(_ keyID: String, dueBy now: Date) async throws -> Bool {
        try await withKeyLock(keyID) {
            guard let key = try await store.key(id: keyID), key.state == .pendingDeletion,
                  let date = key.deletionDate, date <= now else { return false }
            // A key in a disconnected custom key store waits (vault(for:)
            // throws): its material is destroyed when the store is back.
            let keyVault = try vault(for: key)
            for version in try await store.versions(keyID: keyID) {
                try await keyVault.destroy(version)
            }
            // With the KEK gone, no copy of the database unwraps this key again.
            try await keyVault.destroyKEK(for: keyID)
            if let parameters = try await store.importParameters(keyID: keyID) {
                try await destroyImportKeyPair(parameters.objectID)
            }
            try await store.deleteKey(id: keyID)
            usage.forget(keyID: keyID)
            return true
        }
    }
}
