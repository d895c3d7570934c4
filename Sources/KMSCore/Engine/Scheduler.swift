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
        public var failures: [String] = []
    }

    public func runScheduledTasks() async throws -> ScheduledWork {
        var work = ScheduledWork()
        let now = clock.now
        var marker: String?
        while true {
            let page = try await store.keys(after: marker, limit: 500)
            for key in page {
                do {
                    if key.state == .pendingDeletion, let date = key.deletionDate, date <= now {
                        try await deleteKeyNow(key)
                        work.deleted.append(key.keyID)
                    } else if key.state == .enabled, key.rotationEnabled, let next = key.nextRotationDate, next <= now {
                        try await rotate(keyID: key.keyID, type: .automatic)
                        work.rotated.append(key.keyID)
                    } else if key.expirationModel == .keyMaterialExpires, let validTo = key.validTo, validTo <= now,
                              key.currentVersion != nil {
                        _ = try await removeImportedMaterial(key)
                        work.expiredMaterial.append(key.keyID)
                    }
                } catch {
                    // One key's failure must not stop the others; it is retried next run.
                    work.failures.append("\(key.keyID): \(error)")
                }
            }
            guard page.count == 500 else { break }
            marker = page.last?.keyID
        }
        for parameters in try await store.allImportParameters() where parameters.validTo <= now {
            try await destroyImportKeyPair(parameters.objectID)
            try await store.deleteImportParameters(keyID: parameters.keyID)
            work.expiredImportParameters += 1
        }
        return work
    }

    /// The end of a key: its HSM objects (or cached unwrapped copies) are
    /// destroyed first, then every metadata row, so nothing that remains
    /// claims material that is gone.
    private func deleteKeyNow(_ key: KeyRecord) async throws {
        for version in try await store.versions(keyID: key.keyID) {
            try await vault.destroy(version)
        }
        if let parameters = try await store.importParameters(keyID: key.keyID) {
            try await destroyImportKeyPair(parameters.objectID)
        }
        try await store.deleteKey(id: key.keyID)
    }
}
