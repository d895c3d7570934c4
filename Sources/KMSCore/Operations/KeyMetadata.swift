import Foundation
import KMSModel

extension KMSEngine {
    func metadata(_ key: KeyRecord) async throws -> KeyMetadata {
        let current: String? = if let n = key.currentVersion {
            try await store.version(keyID: key.keyID, version: n)?.keyMaterialID
        } else {
            nil
        }
        let enc = key.keySpec.encryptionAlgorithms(usage: key.keyUsage)
        let sig = key.keySpec.signingAlgorithms(usage: key.keyUsage)
        let mac = key.keySpec.macAlgorithms
        let agreement = key.keySpec.keyAgreementAlgorithms(usage: key.keyUsage)
        var cluster: String?
        if let storeID = key.customKeyStoreID {
            cluster = try await store.customKeyStores().first { $0.id == storeID }?.clusterID
        }
        var metadata = KeyMetadata(
            awsAccountId: configuration.arn.account, keyId: key.keyID, arn: arn(key), creationDate: key.createdAt,
            enabled: key.state == .enabled, description: key.description, keyUsage: key.keyUsage, keyState: key.state,
            deletionDate: key.deletionDate, validTo: key.validTo, origin: key.origin, expirationModel: key.expirationModel,
            keyManager: "CUSTOMER", customerMasterKeySpec: key.keySpec, keySpec: key.keySpec,
            encryptionAlgorithms: enc.isEmpty ? nil : enc, signingAlgorithms: sig.isEmpty ? nil : sig,
            macAlgorithms: mac.isEmpty ? nil : mac, keyAgreementAlgorithms: agreement.isEmpty ? nil : agreement, multiRegion: false,
            pendingDeletionWindowInDays: key.pendingWindowInDays, currentKeyMaterialId: current)
        metadata.customKeyStoreId = key.customKeyStoreID
        metadata.cloudHsmClusterId = cluster
        return metadata
    }
}
