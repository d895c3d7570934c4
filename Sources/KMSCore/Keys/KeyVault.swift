import Foundation
import KMSModel
import KMSTokenSetup
import PKCS11
import Synchronization

/// Key material in the HSM, in either storage mode (DESIGN.md §3):
///
/// - `token`: each version is a non-extractable token object labelled
///   `p11kms/<KeyId>/v<N>` with `CKA_ID` = the version's object id. Handles
///   are found once at start-up (and again only after the pool lost its
///   sessions) and cached; no request calls `C_FindObjects`.
/// - `wrapped`: each version is born as an extractable session object,
///   wrapped at once (RFC 5649), then made non-extractable. The blob goes to
///   the metadata store; on use it is unwrapped (non-extractable) into a
///   session object kept in a bounded LRU.
///
///   Each key made since issue #14 has its own key-encryption key, a token
///   object labelled `p11kms-kek/<KeyId>` with the domain key's unwrap
///   template, made with its first version; its versions are wrapped under
///   it. Deleting the key destroys that KEK, so a database backup taken
///   before the deletion no longer unwraps anything: deletion destroys. A
///   token object per key costs token storage (SoftHSM: one small file per
///   key); a token with a hard object limit would need the KEKs wrapped
///   under the domain key instead, which this does not do. Keys made before
///   have no KEK and stay wrapped under the domain key.
final class KeyVault: Sendable {
    static let domainKeyLabel = TokenSetup.domainKeyLabel
    static let kekLabelPrefix = "p11kms-kek/"
    /// A KEK being made for a key made before KEKs, until its re-wrapped
    /// versions are committed (see `rewrapUnderNewKEK`).
    static let pendingKEKLabelPrefix = "p11kms-kek-pending/"
    /// The domain key that replaces one without an enforced unwrap template,
    /// until the old one is destroyed.
    static let nextDomainKeyLabel = TokenSetup.domainKeyLabel + "-next"
    static let versionLabelPrefix = "p11kms/"
    static let importLabelPrefix = "p11kms-import/"

    struct Handles: Sendable, Hashable {
        /// The secret key, or the private half of a pair.
        let key: ObjectHandle
        let publicKey: ObjectHandle?
    }

    private struct Cache {
        var generation: UInt64
        var domainKey: ObjectHandle?
        /// Per-key key-encryption keys, by key id (token objects; found by scanning).
        var keks: [String: ObjectHandle] = [:]
        /// Token objects of `token`-mode versions, found by scanning; never evicted.
        var tokenObjects: [[UInt8]: Handles] = [:]
        /// Unwrapped session objects of `wrapped`-mode versions: the bounded LRU.
        var unwrapped: [[UInt8]: (handles: Handles, lastUse: UInt64)] = [:]
        var tick: UInt64 = 0
        var hits: UInt64 = 0
        var misses: UInt64 = 0
    }

    let pool: SessionPool
    let profile: TokenProfile
    let mode: KeyStorageMode
    let cacheCapacity: Int
    /// False only to make keys as before per-key KEKs (tests of the migration).
    let makeKEKs: Bool
    private let cache: Mutex<Cache>

    init(pool: SessionPool, profile: TokenProfile, mode: KeyStorageMode, cacheCapacity: Int, makeKEKs: Bool = true) async throws {
        self.pool = pool
        self.profile = profile
        self.mode = mode
        self.cacheCapacity = max(1, cacheCapacity)
        self.makeKEKs = makeKEKs
        cache = Mutex(Cache(generation: pool.statistics.generation))
        // A domain key replacement cut short after the old key was destroyed.
        try await pool.withSession { s in
            if try s.findObjects([.class(.secretKey), .token(true), .label(Self.domainKeyLabel)]).isEmpty,
               let next = try s.findObjects([.class(.secretKey), .token(true), .label(Self.nextDomainKeyLabel)]).first {
                try s.setAttributes([.label(Self.domainKeyLabel)], of: next)
            }
        }
        try await refresh(force: true)
    }

    /// Cache hits and misses of the wrapped-mode LRU.
    var cacheStatistics: (hits: UInt64, misses: UInt64, size: Int) {
        cache.withLock { ($0.hits, $0.misses, $0.unwrapped.count) }
    }

    // MARK: Handles

    /// Re-learns handles when the pool lost its sessions (handles of session
    /// objects are gone, and tokens may renumber token objects).
    private func refresh(force: Bool = false) async throws {
        let generation = pool.statistics.generation
        if !force && cache.withLock({ $0.generation == generation }) { return }
        let (domain, tokenObjects, keks) = try await pool.withSession { s -> (ObjectHandle?, [[UInt8]: Handles], [String: ObjectHandle]) in
            let domain = try s.findObjects([.class(.secretKey), .token(true), .label(Self.domainKeyLabel)])
            guard domain.count <= 1 else {
                throw KMSError.internalError("the token holds \(domain.count) domain keys; expected one")
            }
            // Token objects are scanned in both modes: a version keeps the
            // storage it was created with when the daemon's mode changes.
            var found: [[UInt8]: Handles] = [:]
            var keks: [String: ObjectHandle] = [:]
            do {
                var secret: [[UInt8]: ObjectHandle] = [:]
                var publics: [[UInt8]: ObjectHandle] = [:]
                for object in try s.findObjects([.token(true)]) {
                    // Label and class first: objects that are not keys (the
                    // audit anchor, a CKO_DATA) have no CKA_ID to ask for.
                    let a = try s.attributes([.label, .class], of: object)
                    if a[0].stringValue.hasPrefix(Self.kekLabelPrefix) {
                        keks[String(a[0].stringValue.dropFirst(Self.kekLabelPrefix.count))] = object
                        continue
                    }
                    guard a[0].stringValue.hasPrefix(Self.versionLabelPrefix) else { continue }
                    let id = try s.attribute(.id, of: object).value
                    if ObjectClass(rawValue: a[1].ulongValue ?? 0) == .publicKey {
                        publics[id] = object
                    } else {
                        secret[id] = object
                    }
                }
                for (id, key) in secret { found[id] = Handles(key: key, publicKey: publics[id]) }
            }
            return (domain.first, found, keks)
        }
        if mode == .wrapped && domain == nil {
            throw KMSError.internalError(
                "the token has no domain key (label \(Self.domainKeyLabel)); run 'p11kms token setup' first")
        }
        cache.withLock { c in
            c.generation = generation
            c.domainKey = domain
            c.tokenObjects = tokenObjects
            c.keks = keks
            c.unwrapped = [:]
        }
    }

    /// Whether the token forces keys unwrapped under the domain key sensitive
    /// and non-extractable (`TokenSetup.probeUnwrapEnforcement`); nil in
    /// token mode without a domain key.
    func probeUnwrapEnforcement() async throws -> TokenSetup.UnwrapEnforcement? {
        guard let domain = cache.withLock({ $0.domainKey }), let wrap = try? profile.rfc5649WrapMechanism() else { return nil }
        return try await pool.withSession { s in try TokenSetup.probeUnwrapEnforcement(s, domainKey: domain, mechanism: wrap) }
    }

    /// The key that wraps `keyID`'s versions: its own KEK, else (a key made
    /// before per-key KEKs) the domain key.
    func wrappingKey(for keyID: String) throws -> ObjectHandle {
        if let kek = cache.withLock({ $0.keks[keyID] }) { return kek }
        return try domainKey()
    }

    /// `keyID`'s KEK, made now if it has none: AES-256, a private, sensitive,
    /// never-extractable token object, wrap and unwrap only, with the domain
    /// key's unwrap and wrap templates.
    func ensureKEK(for keyID: String) async throws -> ObjectHandle {
        try await refresh()
        if let kek = cache.withLock({ $0.keks[keyID] }) { return kek }
        let label = Self.kekLabelPrefix + keyID
        let kek = try await pool.withTokenWrite { s in
            try s.generateKey(.aes(bits: 256), KeyOptions(usage: [.wrap, .unwrap], token: true, label: label, extra: [
                .unwrapTemplate(TokenSetup.domainUnwrapTemplate), .wrapTemplate(TokenSetup.domainWrapTemplate),
            ]))
        }
        cache.withLock { $0.keks[keyID] = kek }
        return kek
    }

    /// Destroys `keyID`'s KEK, with which every blob of its versions becomes
    /// useless, wherever copies of the database are.
    func destroyKEK(for keyID: String) async throws {
        try await refresh()
        guard let kek = cache.withLock({ $0.keks.removeValue(forKey: keyID) }) else { return }
        try await pool.withTokenWrite { s in try s.destroyObject(kek) }
    }

    // MARK: Replacing a domain key without an unwrap template

    /// Whether `keyID` has a KEK of its own on the token.
    func hasKEK(_ keyID: String) async throws -> Bool {
        try await refresh()
        return cache.withLock { $0.keks[keyID] != nil }
    }

    /// Re-wraps the versions of a key made before per-key KEKs, which are
    /// wrapped under a domain key the token does not hold to its unwrap
    /// template, under a new KEK of the key's own, inside the HSM: each
    /// version is unwrapped into an extractable session object (which the
    /// old domain key allows, and which is why it is being replaced), wrapped
    /// under the KEK and destroyed. The KEK is labelled pending until the
    /// caller has committed the new blobs and calls `adoptKEK`: a crash before
    /// that leaves the old rows and an unused pending KEK, which the next run
    /// destroys. Returns the versions with their new blobs, and the KEK.
    func rewrapUnderNewKEK(keyID: String, versions: [VersionRecord], spec: KeySpec, usage: KeyUsageType) async throws
        -> (versions: [VersionRecord], kek: ObjectHandle) {
        try await refresh()
        let domain = try domainKey()
        let wrap = try profile.rfc5649WrapMechanism()
        let label = Self.pendingKEKLabelPrefix + keyID
        let template = Self.unwrapTemplate(spec: spec, usage: usage).map { $0.type == .extractable ? .extractable(true) : $0 }
        return try await pool.withTokenWrite { s in
            for stale in try s.findObjects([.class(.secretKey), .token(true), .label(label)]) { try s.destroyObject(stale) }
            let kek = try s.generateKey(.aes(bits: 256), KeyOptions(usage: [.wrap, .unwrap], token: true, label: label, extra: [
                .unwrapTemplate(TokenSetup.domainUnwrapTemplate), .wrapTemplate(TokenSetup.domainWrapTemplate),
            ]))
            var out: [VersionRecord] = []
            do {
                for var v in versions {
                    guard v.storage == .wrapped, let blob = v.wrappedKey else { continue }
                    let key = try s.unwrapKey(blob, with: domain, mechanism: wrap, template: template)
                    defer { try? s.destroyObject(key) }
                    v.wrappedKey = try s.wrapKey(key, with: kek, mechanism: wrap)
                    out.append(v)
                }
            } catch {
                try? s.destroyObject(kek)
                throw error
            }
            return (out, kek)
        }
    }

    /// Makes a pending KEK `keyID`'s KEK, once its re-wrapped versions are committed.
    func adoptKEK(_ kek: ObjectHandle, for keyID: String) async throws {
        try await pool.withTokenWrite { s in try s.setAttributes([.label(Self.kekLabelPrefix + keyID)], of: kek) }
        cache.withLock { $0.keks[keyID] = kek }
    }

    /// After a crash between committing re-wrapped versions and adopting
    /// their KEK: adopts a pending KEK of `keyID` if it opens `probe` (the
    /// key's stored blob), destroys it if not. Returns whether it was adopted.
    func resumePendingKEK(for keyID: String, probe: VersionRecord, spec: KeySpec, usage: KeyUsageType) async throws -> Bool {
        guard let blob = probe.wrappedKey else { return false }
        let label = Self.pendingKEKLabelPrefix + keyID
        let wrap = try profile.rfc5649WrapMechanism()
        let template = Self.unwrapTemplate(spec: spec, usage: usage)
        let adopted: ObjectHandle? = try await pool.withTokenWrite { s in
            var adopted: ObjectHandle?
            for kek in try s.findObjects([.class(.secretKey), .token(true), .label(label)]) {
                if adopted == nil, let key = try? s.unwrapKey(blob, with: kek, mechanism: wrap, template: template) {
                    try? s.destroyObject(key)
                    adopted = kek
                } else {
                    try s.destroyObject(kek)
                }
            }
            return adopted
        }
        guard let adopted else { return false }
        try await adoptKEK(adopted, for: keyID)
        return true
    }

    /// Replaces the domain key with one that has the unwrap and wrap
    /// templates, once no version is wrapped under the old one: the new key
    /// is made under a temporary label, the old one destroyed, the new one
    /// relabelled. A crash leaves either both (the next run starts over) or
    /// only the new one under its temporary label (the next run relabels it).
    func replaceDomainKey() async throws {
        try await pool.withTokenWrite { s in
            let current = try s.findObjects([.class(.secretKey), .token(true), .label(Self.domainKeyLabel)])
            let next = try s.findObjects([.class(.secretKey), .token(true), .label(Self.nextDomainKeyLabel)])
            var replacement: ObjectHandle
            if current.isEmpty, let made = next.first {
                replacement = made
            } else {
                for stale in next { try s.destroyObject(stale) }
                replacement = try s.generateKey(.aes(bits: 256), KeyOptions(
                    usage: [.wrap, .unwrap], token: true, label: Self.nextDomainKeyLabel,
                    extra: [.unwrapTemplate(TokenSetup.domainUnwrapTemplate), .wrapTemplate(TokenSetup.domainWrapTemplate)]))
                for old in current { try s.destroyObject(old) }
            }
            try s.setAttributes([.label(Self.domainKeyLabel)], of: replacement)
        }
        try await refresh(force: true)
    }

    private func domainKey() throws -> ObjectHandle {
        guard let key = cache.withLock({ $0.domainKey }) else {
            throw KMSError.internalError("the token has no domain key; run 'p11kms token setup' first")
        }
        return key
    }

    private func cached(_ version: VersionRecord) -> Handles? {
        cache.withLock { c in
            if version.storage == .token { return c.tokenObjects[version.objectID] }
            guard let entry = c.unwrapped[version.objectID] else {
                c.misses += 1
                return nil
            }
            c.tick += 1
            c.hits += 1
            c.unwrapped[version.objectID] = (entry.handles, c.tick)
            return entry.handles
        }
    }

    /// Adds unwrapped handles to the LRU; returns handles evicted to make room
    /// (or the new ones, if another task cached the same version first).
    private func insert(_ version: VersionRecord, _ handles: Handles) -> (use: Handles, destroy: [Handles]) {
        cache.withLock { c in
            if version.storage == .token {
                c.tokenObjects[version.objectID] = handles
                return (handles, [])
            }
            c.tick += 1
            if let existing = c.unwrapped[version.objectID] {
                c.unwrapped[version.objectID] = (existing.handles, c.tick)
                return (existing.handles, [handles])
            }
            // A linear scan for the least recently used entry: only on a miss
            // with a full cache, and cheap next to the unwrap that caused it.
            var evicted: [Handles] = []
            while c.unwrapped.count >= cacheCapacity,
                  let oldest = c.unwrapped.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                evicted.append(oldest.value.handles)
                c.unwrapped[oldest.key] = nil
            }
            c.unwrapped[version.objectID] = (handles, c.tick)
            return (handles, evicted)
        }
    }

    /// Runs `body` in one pool session with the version's key handles.
    func withKey<T: Sendable>(_ version: VersionRecord, spec: KeySpec, usage: KeyUsageType,
                              _ body: @escaping @Sendable (Session, Handles) throws -> T) async throws -> T {
        try await refresh()
        if let handles = cached(version) {
            do {
                return try await pool.withSession { try body($0, handles) }
            } catch let error as PKCS11Error where error.code == .keyHandleInvalid || error.code == .objectHandleInvalid {
                // Handles went stale under us (session loss between refresh and use).
                try await refresh(force: true)
            }
        }
        switch version.storage {
        case .token:
            guard let handles = cached(version) else {
                throw KMSError(.keyUnavailable, "the HSM object of key \(version.keyID) version \(version.version) is missing")
            }
            return try await pool.withSession { try body($0, handles) }
        case .wrapped:
            guard let blob = version.wrappedKey else {
                throw KMSError(.keyUnavailable, "key \(version.keyID) version \(version.version) has no wrapped material")
            }
            let wrappingKey = try wrappingKey(for: version.keyID)
            let hasKEK = cache.withLock { $0.keks[version.keyID] != nil }
            let wrap = try profile.rfc5649WrapMechanism()
            let template = Self.unwrapTemplate(spec: spec, usage: usage)
            return try await pool.withSession { [self] s in
                let key: ObjectHandle
                do {
                    key = try s.unwrapKey(blob, with: wrappingKey, mechanism: wrap, template: template)
                } catch let error as PKCS11Error where !hasKEK && [.wrappedKeyInvalid, .encryptedDataInvalid, .wrappedKeyLenRange,
                                                                   .generalError].contains(error.code) {
                    // No KEK on the token and the domain key does not open the
                    // blob (SoftHSM answers CKR_GENERAL_ERROR for a failed RFC
                    // 5649 integrity check): the key's KEK was destroyed.
                    throw KMSError(.keyUnavailable, "Key \(version.keyID) version \(version.version) cannot be unwrapped "
                        + "with the domain key (\(error.code)): its own key-encryption key is not on the token, as after "
                        + "the key was deleted (or the token failed the unwrap).")
                }
                let (use, destroy) = insert(version, Handles(key: key, publicKey: nil))
                for h in destroy where h != use { try? s.destroyObject(h.key) }
                return try body(s, use)
            }
        }
    }

    static func unwrapTemplate(spec: KeySpec, usage: KeyUsageType) -> [Attribute] {
        let uses = usage.pkcs11Usage(asymmetric: spec.isAsymmetric)
        let common: [Attribute] = [.token(false), .private(true), .sensitive(true), .extractable(false)]
        switch spec.material {
        case .secret(_, let keyType):
            return [.class(.secretKey), .keyType(keyType)] + common + [
                Attribute(.encrypt, bool: uses.contains(.encrypt)),
                Attribute(.decrypt, bool: uses.contains(.decrypt)),
                Attribute(.sign, bool: uses.contains(.sign)),
                Attribute(.verify, bool: uses.contains(.verify)),
            ]
        case .pair(_, let keyType):
            // A private key has no CKA_ENCRYPT or CKA_VERIFY: naming them in
            // the template is CKR_ATTRIBUTE_TYPE_INVALID (SoftHSM2).
            return [.class(.privateKey), .keyType(keyType)] + common + [
                Attribute(.decrypt, bool: uses.contains(.decrypt)),
                Attribute(.sign, bool: uses.contains(.sign)),
                Attribute(.derive, bool: uses.contains(.derive)),
            ]
        }
    }

    // MARK: Creating and destroying versions

    /// Creates the material of a new version in the HSM. Nothing is recorded
    /// in the metadata store here; the caller commits the returned record.
    func createVersion(keyID: String, version: UInt32, spec: KeySpec, usage: KeyUsageType, rotationType: RotationType?,
                       now: Date) async throws -> VersionRecord {
        try await refresh()
        let objectID = Array((0..<16).map { _ in UInt8.random(in: 0...255) })
        // A key type the token cannot wrap (Ed25519 on SoftHSM 2.6) is kept as
        // a token object even in wrapped mode; the version records which.
        let keyType: KeyType = switch spec.material {
        case .secret(_, let t), .pair(_, let t): t
        }
        let mode = self.mode == .wrapped && !profile.canWrap(keyType) ? KeyStorageMode.token : self.mode
        // A new key's first version brings its KEK; later versions use the
        // key's wrapping key (the domain key for keys made before KEKs).
        let domain: ObjectHandle? = mode != .wrapped ? nil
            : version == 1 && makeKEKs ? try await ensureKEK(for: keyID) : try wrappingKey(for: keyID)
        let wrap = mode == .wrapped ? try profile.rfc5649WrapMechanism() : nil
        let label = Self.versionLabelPrefix + "\(keyID)/v\(version)"
        var options = KeyOptions(usage: usage.pkcs11Usage(asymmetric: spec.isAsymmetric))
        options.token = mode == .token
        options.extractable = mode == .wrapped // wrapped at birth, then locked below
        options.label = label
        options.id = objectID
        let finalOptions = options
        // Token objects one at a time (SessionPool.withTokenWrite); a wrapped
        // version is born a session object and needs no such turn.
        let make: @Sendable (Session) throws -> (Handles, [UInt8]?, [UInt8]?, GenerationAttributes) = { s in
            var handles: Handles
            var publicKey: [UInt8]?
            switch spec.material {
            case .secret(let secretSpec, _):
                handles = Handles(key: try s.generateKey(secretSpec, finalOptions), publicKey: nil)
            case .pair(let pairSpec, _):
                let pair = try s.generateKeyPair(pairSpec, finalOptions)
                handles = Handles(key: pair.privateKey, publicKey: pair.publicKey)
                publicKey = try s.subjectPublicKeyInfo(of: pair.publicKey)
            }
            // Read before the wrap: the report's evidence that it was made here, sensitive.
            let generated = GenerationAttributes(of: handles.key, in: s)
            guard let domain, let wrap else { return (handles, nil, publicKey, generated) }
            do {
                let blob = try s.wrapKey(handles.key, with: domain, mechanism: wrap)
                try s.setAttributes([.extractable(false)], of: handles.key)
                if let pub = handles.publicKey {
                    // Public operations use the stored SubjectPublicKeyInfo.
                    try s.destroyObject(pub)
                    handles = Handles(key: handles.key, publicKey: nil)
                }
                return (handles, blob, publicKey, generated)
            } catch {
                try? s.destroyObject(handles.key)
                if let pub = handles.publicKey { try? s.destroyObject(pub) }
                throw error
            }
        }
        let (handles, wrapped, publicKey, generated) = mode == .token ? try await pool.withTokenWrite(make) : try await pool.withSession(make)
        let record = VersionRecord(keyID: keyID, version: version, createdAt: now, rotationType: rotationType,
                                   storage: mode, objectID: objectID, wrappedKey: wrapped, publicKey: publicKey,
                                   generationAttributes: generated)
        let inserted = insert(record, handles)
        if !inserted.destroy.isEmpty {
            let stale = inserted.destroy
            _ = try? await pool.withSession { s in for h in stale { try? s.destroyObject(h.key) } }
        }
        return record
    }

    /// Destroys a version's HSM objects (token mode) or its cached unwrapped
    /// copy (wrapped mode; the blob goes with the metadata row).
    func destroy(_ version: VersionRecord) async throws {
        try await refresh()
        let handles = cache.withLock { c in
            version.storage == .token
                ? c.tokenObjects.removeValue(forKey: version.objectID)
                : c.unwrapped.removeValue(forKey: version.objectID)?.handles
        }
        guard let handles else { return }
        try await pool.withTokenWrite { s in
            try? s.destroyObject(handles.key)
            if let pub = handles.publicKey { try? s.destroyObject(pub) }
        }
    }

    // MARK: Start-up reconciliation

    /// Destroys token objects of ours that no metadata row knows (a crash
    /// between the HSM step and the metadata commit), and returns the known
    /// versions whose token objects are gone.
    func reconcile(known: [VersionRecord], importKeys: [[UInt8]]) async throws -> (destroyed: Int, missing: [VersionRecord]) {
        let knownIDs = Set(known.filter { $0.storage == .token }.map(\.objectID) + importKeys)
        let destroyed = try await pool.withTokenWrite { s -> Int in
            var count = 0
            for object in try s.findObjects([.token(true)]) {
                let label = try s.attribute(.label, of: object).stringValue
                // KEKs are never destroyed here, only when their key is
                // deleted: a key missing from the store may be a tampered or
                // restored database, and a destroyed KEK cannot come back. A
                // crash between making a KEK and committing its key leaves one
                // small orphan object, which is the cheaper mistake.
                guard label.hasPrefix(Self.versionLabelPrefix) || label.hasPrefix(Self.importLabelPrefix) else { continue }
                if !knownIDs.contains(try s.attribute(.id, of: object).value) {
                    try s.destroyObject(object)
                    count += 1
                }
            }
            return count
        }
        try await refresh(force: true)
        let present = cache.withLock { Set($0.tokenObjects.keys) }
        let missing = known.filter {
            $0.storage == .token ? !present.contains($0.objectID) : $0.wrappedKey == nil
        }
        return (destroyed, missing)
    }
}

extension KeyVault {
    /// Records the handle of a token object made outside `createVersion` (import).
    func adopt(_ version: VersionRecord, handle: ObjectHandle) async throws {
        _ = insert(version, Handles(key: handle, publicKey: nil))
    }
}

extension GenerationAttributes {
    /// The object's protection attributes as the HSM reports them now.
    init(of object: ObjectHandle, in s: Session) {
        func flag(_ t: AttributeType) -> Bool? { (try? s.attribute(t, of: object))?.boolValue }
        self.init(local: flag(.local), alwaysSensitive: flag(.alwaysSensitive), neverExtractable: flag(.neverExtractable),
                  extractable: flag(.extractable), sensitive: flag(.sensitive))
    }
}
