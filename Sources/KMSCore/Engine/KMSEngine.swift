import Foundation
import KMSModel
import KMSTokenSetup
import PKCS11
import Synchronization

/// The KMS: typed requests shaped like the AWS KMS API in, typed responses or
/// `KMSError`s carrying AWS exception names out. Transport-independent: the
/// server is only a codec in front of it. Operations live in one file per
/// family under `Operations/`.
public final class KMSEngine: Sendable {
    public let configuration: KMSConfiguration
    public let profile: TokenProfile
    /// What the start-up probe of the domain key's unwrap template found; nil
    /// when there is no domain key (token storage).
    public let unwrapEnforcement: TokenSetup.UnwrapEnforcement?
    /// Every key, version and alias, in memory, written through to the store.
    let store: KeyRegistry
    let clock: any KMSClock
    let vault: KeyVault
    let pool: SessionPool
    let faults: FaultInjection
    /// In-memory use counts per version, backed by leases in the store.
    let encryptionCounters = Mutex<[String: EncryptionCounter]>([:])
    /// Serializes the changes of each key (and of each alias name).
    let keyLocks: KeyLocks
    /// The last use of each key by each operation, flushed to the store in batches.
    let usage = KeyUsageTracker()
    /// Custom key stores connected now (extra tokens).
    let customKeyStoreConnections = CustomKeyStoreConnections()
    /// Parsed key policies by document text.
    let policyCache = Mutex<[String: KeyPolicy]>([:])

    /// One version's random-IV budget in use. `reserved` is what the store
    /// holds: no encryption goes past it, so a crash can only overcount.
    /// The next lease is written in the background once half of the current
    /// one is used (`renewal`), so a request waits for the store only when
    /// encryptions outrun that write.
    struct EncryptionCounter {
        var used: UInt64
        var reserved: UInt64
        var renewal: Task<Void, any Error>?
    }

    /// Opens the engine on a logged-in pool: probes the token, finds handles,
    /// and reconciles the token with the store (DESIGN.md §7).
    public init(pool: SessionPool, store: any MetadataStore, configuration: KMSConfiguration = .init(),
                clock: any KMSClock = SystemClock(), faults: FaultInjection = .init()) async throws {
        self.pool = pool
        self.store = try await KeyRegistry.load(from: store)
        self.keyLocks = KeyLocks(timeout: configuration.changeTimeout)
        self.configuration = configuration
        self.clock = clock
        self.faults = faults
        let slot = pool.token.slot
        let probed = try await pool.withSession { try TokenProfile.probe($0, slot: slot) }
        profile = configuration.adjustProfile?(probed) ?? probed
        vault = try await KeyVault(pool: pool, profile: profile, mode: configuration.keyStorage,
                                   cacheCapacity: configuration.cacheCapacity, makeKEKs: configuration.makeKEKs)
        // Wrapped storage is only as safe as the domain key's unwrap template:
        // without it, a PIN holder unwraps any version into readable material.
        var enforcement = try await vault.probeUnwrapEnforcement()
        var replacement: DomainKeyReplacement?
        if let found = enforcement, !found.isEnforced, configuration.replaceUnenforcedDomainKey {
            let done = try await Self.replaceDomainKey(vault: vault, store: self.store)
            replacement = done
            if done.replaced { enforcement = try await vault.probeUnwrapEnforcement() }
        }
        unwrapEnforcement = enforcement
        domainKeyReplacement = replacement
        if configuration.keyStorage == .wrapped, let enforcement, !enforcement.isEnforced,
           !configuration.allowUnenforcedUnwrapTemplate {
            var why = "wrapped key storage refuses to start: the domain key's unwrap template is \(enforcement)."
            if let replacement, !replacement.replaced { why += " The domain key was not replaced: \(replacement.blocked)." }
            throw KMSError.internalError(why + " Run `p11kms token setup --upgrade` (or, where the token cannot add the "
                + "template, start p11kmsd once with --replace-domain-key), use token storage, or accept the risk by name "
                + "with [keys] allow_unenforced_unwrap_template = true.")
        }
        try await reconcile()
        try await reconnectCustomKeyStores()
    }

    /// Outcome of start-up reconciliation, kept for health reporting.
    public struct Reconciliation: Sendable, Hashable {
        public var orphanObjectsDestroyed: Int
        public var keysMarkedUnavailable: [String]
    }

    /// What `--replace-domain-key` did at start-up; nil when it was not asked for or not needed.
    public let domainKeyReplacement: DomainKeyReplacement?

    private let lastReconciliation = Mutex(Reconciliation(orphanObjectsDestroyed: 0, keysMarkedUnavailable: []))
    public var reconciliation: Reconciliation { lastReconciliation.withLock { $0 } }

    private func reconcile() async throws {
        // Keys in custom key stores live on other tokens: not this token's to find or miss.
        var elsewhere: Set<String> = []
        var marker: String?
        while true {
            let page = try await store.keys(after: marker, limit: 1000)
            for key in page where key.customKeyStoreID != nil { elsewhere.insert(key.keyID) }
            guard page.count == 1000 else { break }
            marker = page.last?.keyID
        }
        let versions = try await store.allVersions().filter { !elsewhere.contains($0.keyID) }
        let imports = try await store.allImportParameters().map(\.objectID)
        let (destroyed, missing) = try await vault.reconcile(known: versions, importKeys: imports)
        var unavailable: [String] = []
        for keyID in Set(missing.map(\.keyID)).sorted() {
            // A key whose metadata fails its check is left as it is (and refuses service).
            // (and one whose row is not readable here: another token's, or gone).
            guard let key = try? await store.key(id: keyID), key.state != .unavailable, key.customKeyStoreID == nil
            else { continue }
            try await changeKey(keyID) { key in key.state = .unavailable }
            unavailable.append(keyID)
        }
        lastReconciliation.withLock { $0 = Reconciliation(orphanObjectsDestroyed: destroyed, keysMarkedUnavailable: unavailable) }
    }

    // MARK: Resolving key identifiers

    /// The key a `KeyId` member names. `allowAlias` is false for the
    /// management operations where AWS accepts only key ids and key ARNs.
    func resolveKey(_ raw: String?, member: String = "KeyId", allowAlias: Bool = true) async throws -> KeyRecord {
        guard let raw else { throw KMSError.validation("\(member) is required.") }
        switch try KeyIdentifier.parse(raw, arn: configuration.arn) {
        case .keyID(let id):
            guard let key = try await store.key(id: id) else { throw KMSError.notFound("Key '\(raw)' does not exist.") }
            return key
        case .aliasName(let name):
            guard allowAlias else {
                throw KMSError.notFound("\(member) must be a key ID or key ARN here, not an alias ('\(raw)').")
            }
            guard let alias = try await store.alias(name: name),
                  let key = try await store.key(id: alias.targetKeyID) else {
                throw KMSError.notFound("Alias '\(raw)' does not exist.")
            }
            return key
        }
    }

    func arn(_ key: KeyRecord) -> String { configuration.arn.keyARN(key.keyID) }

    /// The key-state rules: what each state permits.
    func checkState(_ key: KeyRecord, for operation: KMSOperation) throws {
        let id = arn(key)
        switch key.state {
        case .enabled:
            return
        case .disabled:
            if operation.isCryptographic || [.enableKeyRotation, .rotateKeyOnDemand].contains(operation) {
                throw KMSError(.disabled, "\(id) is disabled.")
            }
            if [.getParametersForImport, .importKeyMaterial].contains(operation) && key.origin != .external {
                throw KMSError.unsupported("\(id) does not have imported key material.")
            }
        case .pendingDeletion:
            let allowed: Set<KMSOperation> = [.describeKey, .cancelKeyDeletion, .listResourceTags, .getKeyPolicy,
                                           .listKeyPolicies, .deleteAlias, .listAliases, .listKeyRotations]
            if !allowed.contains(operation) {
                throw KMSError.invalidState("\(id) is pending deletion.")
            }
        case .pendingImport:
            let forbidden: Set<KMSOperation> = [.enableKey, .disableKey, .enableKeyRotation, .rotateKeyOnDemand,
                                             .disableKeyRotation, .deleteImportedKeyMaterial]
            if operation.isCryptographic || forbidden.contains(operation) {
                throw KMSError.invalidState("\(id) is pending import of key material.")
            }
        case .unavailable:
            if operation.isCryptographic || [.enableKey, .rotateKeyOnDemand, .enableKeyRotation].contains(operation) {
                throw KMSError.invalidState("\(id) is unavailable: its key material is missing from the HSM.")
            }
        }
    }

    func checkUsage(_ key: KeyRecord, _ usage: KeyUsageType, for operation: KMSOperation) throws {
        guard key.keyUsage == usage else {
            throw KMSError.invalidKeyUsage("\(operation.rawValue) needs a key with KeyUsageType \(usage.rawValue); "
                                           + "\(arn(key)) has \(key.keyUsage.rawValue).")
        }
    }

    // MARK: Changing a key

    /// Runs `body` holding `keyID`'s lock: no other change to that key runs
    /// meanwhile. Waits at most `configuration.changeTimeout`.
    func withKeyLock<T: Sendable>(_ keyID: String, _ body: () async throws -> T) async throws -> T {
        try await keyLocks.withLock(keyID, body)
    }

    /// A serialized read-modify-write of one key's row: `change` gets the
    /// current record (not a copy read before the lock) and the result is
    /// stored if it differs. Throws NotFoundException if the key is gone.
    @discardableResult
    func changeKey<T: Sendable>(_ keyID: String, _ change: (inout KeyRecord) async throws -> T) async throws -> T {
        try await withKeyLock(keyID) {
            guard var key = try await store.key(id: keyID) else { throw KMSError.notFound("Key '\(keyID)' does not exist.") }
            let before = key
            let result = try await change(&key)
            if key != before { try await store.update(key) }
            return result
        }
    }

    /// `changeKey` for a request: resolves `raw`, then, holding the key's
    /// lock, authorizes the caller against the current policy and state
    /// before `change` runs. So a change authorised by a policy that was
    /// replaced a moment ago can no longer slip in after the new one.
    @discardableResult
    func changeAuthorizedKey<T: Sendable>(
        _ raw: String?, member: String = "KeyId", for operation: KMSOperation, caller: Principal, facts: AuditFacts,
        _ change: (inout KeyRecord) async throws -> T
    ) async throws -> T {
        let id = try await authorizedKey(raw, member: member, allowAlias: false, for: operation, caller: caller, facts: facts).keyID
        return try await changeKey(id) { key in
            try authorize(operation, key: key, caller: caller, facts: facts)
            return try await change(&key)
        }
    }

    func currentVersion(_ key: KeyRecord, facts: AuditFacts) async throws -> VersionRecord {
        guard let number = key.currentVersion, let version = try await store.version(keyID: key.keyID, version: number) else {
            throw KMSError.invalidState("\(arn(key)) has no key material.")
        }
        facts.note(version: number)
        return version
    }

    /// An admin accepts the metadata store as it is, after the start-up
    /// check found rows older than the token's anchor; returns the keys that
    /// were held, which serve again once the daemon restarts.
    public func acknowledgeMetadataRollback() async throws -> [String: String] {
        try await store.acknowledgeAnchorFindings()
    }

    /// Keys held since start-up because their rows are older than the token's anchor.
    public var metadataRollbackFindings: [String: String] { store.anchorFindings }

    /// Closes nothing it does not own: the pool and store belong to the caller.
    public var cacheStatistics: (hits: UInt64, misses: UInt64, size: Int) { vault.cacheStatistics }
}
