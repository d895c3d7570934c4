import Foundation
import KMSModel

/// What `p11kmsd --replace-domain-key` did (issue #14: existing domain keys
/// are migrated).
///
/// A domain key made before the unwrap template existed lets a PIN holder
/// unwrap any version blob into readable material, and SoftHSM (among
/// others) cannot give an existing key the template
/// (`CKR_ATTRIBUTE_READ_ONLY`). So the key is replaced: every version still
/// wrapped under it, which are the versions of keys made before per-key
/// KEKs, is re-wrapped inside the HSM under a new KEK of its key's own, and
/// only when none is left is the domain key destroyed and a new one, with
/// the template, made. A database backup from before the replacement no
/// longer unwraps anything: take a new backup afterwards.
public struct DomainKeyReplacement: Sendable, Hashable {
    /// Keys whose versions were re-wrapped under a new KEK of their own.
    public var keysRewrapped: [String] = []
    /// Whether the old domain key was destroyed and a new one made.
    public var replaced = false
    /// Why not, when not: keys that could not be re-wrapped.
    public var blocked = ""
}

extension KMSEngine {
    /// Runs at start-up, before anything is served; resumes where a crash
    /// left it. Keys whose metadata fails its checks are not re-wrapped (that
    /// would seal rows nobody vouches for), and while any remains the old
    /// domain key is kept, since destroying it would destroy their material.
    static func replaceDomainKey(vault: KeyVault, store: KeyRegistry) async throws -> DomainKeyReplacement {
        var result = DomainKeyReplacement()
        var stuck: [String] = []
        let byKey = Dictionary(grouping: try await store.allVersions().filter { $0.storage == .wrapped }, by: \.keyID)
        for keyID in byKey.keys.sorted() where !(try await vault.hasKEK(keyID)) {
            guard let key = try? await store.key(id: keyID) else {
                stuck.append("\(keyID) (its metadata fails its check)")
                continue
            }
            let versions = try await store.versions(keyID: keyID).filter { $0.storage == .wrapped }
            guard let first = versions.first else { continue }
            if try await vault.resumePendingKEK(for: keyID, probe: first, spec: key.keySpec, usage: key.keyUsage) {
                result.keysRewrapped.append(keyID)
                continue
            }
            let (rewrapped, kek) = try await vault.rewrapUnderNewKEK(keyID: keyID, versions: versions, spec: key.keySpec,
                                                                    usage: key.keyUsage)
            try await store.replaceWrappedKeys(rewrapped)
            try await vault.adoptKEK(kek, for: keyID)
            result.keysRewrapped.append(keyID)
        }
        guard stuck.isEmpty else {
            result.blocked = "versions of \(stuck.joined(separator: ", ")) are still wrapped under it"
            return result
        }
        try await vault.replaceDomainKey()
        result.replaced = true
        return result
    }
}
