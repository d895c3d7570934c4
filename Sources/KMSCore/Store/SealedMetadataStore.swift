import Crypto
import Foundation
import KMSConcurrency
import KMSModel
import Synchronization

/// A `MetadataStore` whose power-granting rows carry seals made in the HSM
/// (DESIGN.md §7, issue "sealed metadata"). Rows are sealed on every write
/// and checked on every read; a row edited behind the daemon's back (say
/// with the sqlite3 shell) makes its key refuse service with
/// `KMSInvalidStateException`, is reported through `onTamper` (the daemon
/// writes an audit line) and listed in `tamperedKeys` for /health. It never
/// grants anything: listings leave such rows out, so the scheduler cannot be
/// steered into deleting or rotating a key either.
///
/// With an anchor (`MetadataAnchor`), every write also records the digest
/// of the rows it leaves in the token, and loading checks the rows against
/// it: a row, or a whole database, put back from an earlier moment makes
/// the keys it belongs to refuse service in the same way.
public final class SealedMetadataStore: MetadataStore {
    private let inner: any MetadataStore
    private let sealer: any MetadataSealer
    private let onTamper: @Sendable (String) async -> Void
    private let anchor: (any MetadataAnchor)?
    /// Serializes writes while an anchor is kept: the anchor must describe
    /// the rows of one moment. Metadata changes are rare next to requests
    /// (a counter lease is one write per 1,024 encryptions of a version).
    private let anchorLock = AsyncSemaphore(value: 1)
    private let book = Mutex(AnchorBook())

    private struct AnchorBook {
        var loaded = false
        var state = MetadataAnchorState()
        var anchored: MetadataAnchorValue?
        /// Buckets whose rows did not match the anchor at load; their anchored
        /// digest is kept until an admin acknowledges the state.
        var held: Set<Int> = []
        /// What each held key was found with, for the acknowledgement.
        var findings: [String: String] = [:]
    }
    /// Digests of (bytes, seal) pairs the HSM has already confirmed, so an
    /// unchanged row is checked in the HSM once, not on every request.
    private let verified = Mutex(Set<Data>())
    private let tampered = Mutex<[String: String]>([:])

    public init(inner: any MetadataStore, sealer: any MetadataSealer, anchor: (any MetadataAnchor)? = nil,
                onTamper: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.inner = inner
        self.sealer = sealer
        self.anchor = anchor
        self.onTamper = onTamper
    }

    /// Keys whose metadata failed its check since start-up, with what failed.
    public var tamperedKeys: [String: String] { tampered.withLock { $0 } }

    // MARK: Checking

    private func check(_ bytes: [UInt8], _ seal: [UInt8]?) async throws -> Bool {
        guard let seal else { return false }
        let digest = Data(SHA256.hash(data: bytes + seal))
        if verified.withLock({ $0.contains(digest) }) { return true }
        guard try await sealer.verify(bytes, seal: seal) else { return false }
        verified.withLock { cache in
            if cache.count >= 100_000 { cache.removeAll() }
            cache.insert(digest)
        }
        return true
    }

    private func report(keyID: String, _ what: String) async -> KMSError {
        let first = tampered.withLock { t -> Bool in
            defer { t[keyID] = what }
            return t[keyID] == nil
        }
        if first {
            await onTamper("metadata integrity check failed for key \(keyID): \(what) was changed outside p11kmsd; "
                           + "the key refuses service until its metadata is restored")
        }
        return Self.integrityError(keyID: keyID, what)
    }

    /// What a request for a key whose metadata failed its check is answered.
    static func integrityError(keyID: String, _ what: String) -> KMSError {
        KMSError.invalidState("The stored metadata of key \(keyID) failed its integrity check (\(what)); "
                              + "the key refuses service until an operator restores it.")
    }

    private func checked(_ key: KeyRecord) async throws -> KeyRecord {
        guard try await check(MetadataSeal.bytes(key), key.seal) else { throw await report(keyID: key.keyID, "its key row") }
        return key
    }

    private func checked(_ version: VersionRecord) async throws -> VersionRecord {
        guard try await check(MetadataSeal.bytes(version), version.seal) else {
            throw await report(keyID: version.keyID, "the row of version \(version.version)")
        }
        return version
    }

    private func checked(_ parameters: ImportParametersRecord) async throws -> ImportParametersRecord {
        guard try await check(MetadataSeal.bytes(parameters), parameters.seal) else {
            throw await report(keyID: parameters.keyID, "its import parameters")
        }
        return parameters
    }

    private func checked(_ alias: AliasRecord) async throws -> AliasRecord {
        guard try await check(MetadataSeal.bytes(alias), alias.seal) else {
            throw await report(keyID: alias.targetKeyID, "the row of \(alias.aliasName)")
        }
        return alias
    }

    private func checked(_ grant: GrantRecord) async throws -> GrantRecord {
        guard try await check(MetadataSeal.bytes(grant), grant.seal) else {
            throw await report(keyID: grant.keyID, "the row of grant \(grant.grantID)")
        }
        return grant
    }

    // MARK: Sealing

    private func sealed(_ key: KeyRecord) async throws -> KeyRecord {
        var k = key
        k.seal = try await sealer.seal(MetadataSeal.bytes(key))
        return k
    }

    private func sealed(_ version: VersionRecord) async throws -> VersionRecord {
        var v = version
        v.seal = try await sealer.seal(MetadataSeal.bytes(version))
        return v
    }

    private func sealed(_ alias: AliasRecord) async throws -> AliasRecord {
        var a = alias
        a.seal = try await sealer.seal(MetadataSeal.bytes(alias))
        return a
    }

    // MARK: Anchoring

    private typealias Row = MetadataAnchorState.Row
    private typealias Entry = MetadataAnchorState.Entry

    private static func entry(_ k: KeyRecord) -> (Row, Entry?) { (.key(k.keyID), Entry(owner: k.keyID, digest: k.seal ?? [])) }
    private static func entries(_ v: VersionRecord) -> [(Row, Entry?)] {
        [(.version(v.keyID, v.version), Entry(owner: v.keyID, digest: v.seal ?? [])),
         (.counter(v.keyID, v.version), MetadataAnchorState.counter(v.keyID, v.encryptionsReserved))]
    }

    /// Runs `commit` (one transaction of the inner store) so that the token's
    /// anchor describes the rows before or after it at every moment: first
    /// the anchor accepts both, then the commit, then the anchor accepts only
    /// the new rows. Without an anchor, just the commit.
    /// `changes` reads the entries as they are once the lock is held.
    private func anchored(_ changes: (MetadataAnchorState) -> [(Row, Entry?)], _ commit: () async throws -> Void) async throws {
        guard let anchor else { return try await commit() }
        try await waitForAnchor()
        defer { anchorLock.signal() }
        if !book.withLock({ $0.loaded }) { try await load(inner.snapshot()) }
        // Apply in memory first, keeping what to undo: no copy of the whole state.
        let (before, next, pending) = book.withLock { b -> ([(Row, Entry?)], MetadataAnchorValue, MetadataAnchorValue) in
            var undo: [(Row, Entry?)] = []
            var touched: Set<Int> = []
            for (row, entry) in changes(b.state) {
                undo.append((row, b.state.entries[row]))
                touched.formUnion(b.state.set(row, entry))
            }
            var next = b.anchored!
            var pending = next
            for bucket in touched where !b.held.contains(bucket) {
                let digest = b.state.digest(bucket: bucket)
                next.buckets[bucket] = digest
                pending.pending[bucket] = digest
            }
            return (undo.reversed(), next, pending)
        }
        do {
            try await anchor.write(pending)
            try await commit()
        } catch {
            book.withLock { b in for (row, entry) in before { b.state.set(row, entry) } }
            throw error
        }
        book.withLock { $0.anchored = next }
        // The commit stands whatever happens now: if this write fails the
        // token still accepts the new rows (as pending) and the next write
        // replaces it.
        try? await anchor.write(next)
    }

    /// Takes the anchor lock; a wait past 30 s is answered as AWS answers a
    /// timed-out dependency, which callers retry.
    private func waitForAnchor() async throws {
        do {
            try await anchorLock.wait(timeout: .seconds(30))
        } catch is AsyncSemaphore.TimedOut {
            throw KMSError(.dependencyTimeout, "Other changes to the metadata store held it for more than 30 s; retry.")
        }
    }

    /// Checks a raw snapshot against the anchor and keeps its entries;
    /// returns the keys and aliases of buckets that do not match. The first
    /// load on a token without an anchor makes it.
    @discardableResult
    private func load(_ raw: MetadataSnapshot) async throws -> (keys: [String: String], aliases: [String: String]) {
        guard let anchor else { return ([:], [:]) }
        var state = MetadataAnchorState(raw)
        let digests = state.allDigests()
        var held: Set<Int> = []
        var value: MetadataAnchorValue
        if let found = try await anchor.read() {
            value = MetadataAnchorValue(buckets: found.buckets)
            for bucket in 0..<MetadataAnchorValue.bucketCount where !found.accepts(digests[bucket], bucket: bucket) {
                held.insert(bucket)
            }
            for bucket in 0..<MetadataAnchorValue.bucketCount where !held.contains(bucket) {
                value.buckets[bucket] = digests[bucket]
            }
            if value != found { try await anchor.write(value) }
        } else {
            value = MetadataAnchorValue(buckets: digests)
            try await anchor.write(value)
        }
        var keys: [String: String] = [:]
        var aliases: [String: String] = [:]
        let what = "its rows differ from what the token's metadata anchor records: a row or the database was put "
            + "back from an earlier moment (or removed); acknowledge with `p11kms metadata acknowledge-rollback`"
        for bucket in held {
            let (owners, names) = state.contents(of: bucket)
            for key in owners { keys[key] = what }
            for name in names { aliases[name] = state.entries[.alias(name)]?.owner }
        }
        let findings = keys
        book.withLock { b in
            b.loaded = true
            b.state = state
            b.anchored = value
            b.held = held
            b.findings = findings
        }
        return (keys, aliases)
    }

    /// Accepts the store as it is now as the anchored state, after an admin
    /// checked the finding; returns the keys that were held (empty: nothing
    /// to acknowledge). The keys serve again once the daemon restarts and
    /// reloads them.
    public func acknowledgeAnchorFindings() async throws -> [String: String] {
        guard let anchor else { return [:] }
        try await waitForAnchor()
        defer { anchorLock.signal() }
        let findings = book.withLock { $0.findings }
        guard !findings.isEmpty else { return [:] }
        var state = MetadataAnchorState(try await inner.snapshot())
        let value = MetadataAnchorValue(buckets: state.allDigests())
        try await anchor.write(value)
        book.withLock { b in
            b.state = state
            b.anchored = value
            b.held = []
            b.findings = [:]
        }
        return findings
    }

    /// Keys held by the anchor check since start-up, with what was found.
    public var anchorFindings: [String: String] { book.withLock { $0.findings } }

    // MARK: MetadataStore

    public func key(id: String) async throws -> KeyRecord? {
        guard let key = try await inner.key(id: id) else { return nil }
        return try await checked(key)
    }

    public func keys(after: String?, limit: Int) async throws -> [KeyRecord] {
        var out: [KeyRecord] = []
        for key in try await inner.keys(after: after, limit: limit) {
            if let good = try? await checked(key) { out.append(good) }
        }
        return out
    }

    public func insert(_ key: KeyRecord, version: VersionRecord?) async throws {
        var v: VersionRecord?
        if let version { v = try await sealed(version) }
        let (k, sealedVersion) = (try await sealed(key), v)
        try await anchored({ _ in [Self.entry(k)] + (sealedVersion.map(Self.entries) ?? []) }) {
            try await inner.insert(k, version: sealedVersion)
        }
    }

    public func update(_ key: KeyRecord) async throws {
        let k = try await sealed(key)
        try await anchored({ _ in [Self.entry(k)] }) { try await inner.update(k) }
    }

    public func deleteKey(id: String) async throws {
        try await anchored({ $0.rows(of: id).map { ($0, nil) } }) { try await inner.deleteKey(id: id) }
    }

    public func versions(keyID: String) async throws -> [VersionRecord] {
        var out: [VersionRecord] = []
        for v in try await inner.versions(keyID: keyID) { out.append(try await checked(v)) }
        return out
    }

    public func version(keyID: String, version: UInt32) async throws -> VersionRecord? {
        guard let v = try await inner.version(keyID: keyID, version: version) else { return nil }
        return try await checked(v)
    }

    public func add(_ version: VersionRecord, updating key: KeyRecord) async throws {
        let (v, k) = (try await sealed(version), try await sealed(key))
        try await anchored({ _ in Self.entries(v) + [Self.entry(k)] }) { try await inner.add(v, updating: k) }
    }

    public func deleteVersions(keyID: String, updating key: KeyRecord) async throws {
        let k = try await sealed(key)
        let versionRows: (MetadataAnchorState) -> [Row] = { state in
            state.rows(of: keyID) { row in
                switch row {
                case .version, .counter: true
                default: false
                }
            }
        }
        try await anchored({ versionRows($0).map { ($0, nil) } + [Self.entry(k)] }) {
            try await inner.deleteVersions(keyID: keyID, updating: k)
        }
    }

    public func replaceWrappedKeys(_ versions: [VersionRecord]) async throws {
        var sealedVersions: [VersionRecord] = []
        for v in versions { sealedVersions.append(try await sealed(v)) }
        let rows = sealedVersions
        try await anchored({ _ in rows.map { (Row.version($0.keyID, $0.version), Entry(owner: $0.keyID, digest: $0.seal ?? [])) } }) {
            try await inner.replaceWrappedKeys(rows)
        }
    }

    /// The counter is not in the version's seal (it changes on its own);
    /// the anchor covers it, so a database put back with a lower count is
    /// caught like any other old row.
    public func reserveEncryptions(keyID: String, version: UInt32, reserved: UInt64) async throws {
        // The store keeps the larger count when two leases cross; so does this.
        try await anchored({ state in
            let row = Row.counter(keyID, version)
            return [(row, MetadataAnchorState.counter(keyID, max(reserved, state.counterValue(row) ?? 0)))]
        }) {
            try await inner.reserveEncryptions(keyID: keyID, version: version, reserved: reserved)
        }
    }

    /// Every version row, checked or not. Only start-up reconciliation reads
    /// this, to decide which HSM objects to keep: an object that any row
    /// names, even a tampered one, must never be destroyed as an orphan.
    public func allVersions() async throws -> [VersionRecord] {
        try await inner.allVersions()
    }

    public func alias(name: String) async throws -> AliasRecord? {
        guard let alias = try await inner.alias(name: name) else { return nil }
        return try await checked(alias)
    }

    public func aliases(keyID: String?, after: String?, limit: Int) async throws -> [AliasRecord] {
        var out: [AliasRecord] = []
        for a in try await inner.aliases(keyID: keyID, after: after, limit: limit) {
            if let good = try? await checked(a) { out.append(good) }
        }
        return out
    }

    private static func entry(_ a: AliasRecord) -> (Row, Entry?) {
        (.alias(a.aliasName), Entry(owner: a.targetKeyID, digest: a.seal ?? []))
    }

    public func insert(_ alias: AliasRecord) async throws {
        let a = try await sealed(alias)
        try await anchored({ _ in [Self.entry(a)] }) { try await inner.insert(a) }
    }

    public func update(_ alias: AliasRecord) async throws {
        let a = try await sealed(alias)
        try await anchored({ _ in [Self.entry(a)] }) { try await inner.update(a) }
    }

    public func deleteAlias(name: String) async throws {
        try await anchored({ _ in [(.alias(name), nil)] }) { try await inner.deleteAlias(name: name) }
    }

    public func importParameters(keyID: String) async throws -> ImportParametersRecord? {
        guard let parameters = try await inner.importParameters(keyID: keyID) else { return nil }
        return try await checked(parameters)
    }
    public func put(_ parameters: ImportParametersRecord) async throws {
        var sealed = parameters
        sealed.seal = try await sealer.seal(MetadataSeal.bytes(parameters))
        let p = sealed
        try await anchored({ _ in [(.importParameters(p.keyID), Entry(owner: p.keyID, digest: p.seal ?? []))] }) {
            try await inner.put(p)
        }
    }
    public func deleteImportParameters(keyID: String) async throws {
        try await anchored({ _ in [(.importParameters(keyID), nil)] }) { try await inner.deleteImportParameters(keyID: keyID) }
    }
    public func allImportParameters() async throws -> [ImportParametersRecord] {
        var checkedParameters: [ImportParametersRecord] = []
        // A bad row is left out (and reported), not allowed to fail the rest.
        for parameters in try await inner.allImportParameters() {
            if try await check(MetadataSeal.bytes(parameters), parameters.seal) {
                checkedParameters.append(parameters)
            } else {
                _ = await report(keyID: parameters.keyID, "its import parameters")
            }
        }
        return checkedParameters
    }
    public func checkWritable() async throws { try await inner.checkWritable() }

    public func usage(keyID: String) async throws -> [KeyUsageRecord] { try await inner.usage(keyID: keyID) }
    public func recordUsage(_ uses: [KeyUsageRecord]) async throws { try await inner.recordUsage(uses) }
    public func usageTrackingStart() async throws -> Date { try await inner.usageTrackingStart() }

    // A grant grants power, so it is sealed like a policy; a bad grant row
    // makes its key refuse service, as any bad row of a key does.
    public func grants(keyID: String) async throws -> [GrantRecord] {
        var out: [GrantRecord] = []
        for g in try await inner.grants(keyID: keyID) { out.append(try await checked(g)) }
        return out
    }

    public func insert(_ grant: GrantRecord) async throws {
        var g = grant
        g.seal = try await sealer.seal(MetadataSeal.bytes(grant))
        let sealedGrant = g
        try await anchored({ _ in [(.grant(sealedGrant.grantID), Entry(owner: sealedGrant.keyID, digest: sealedGrant.seal ?? []))] }) {
            try await inner.insert(sealedGrant)
        }
    }

    // A custom key store names the token keys live on and carries its PIN
    // (encrypted), so its row is sealed and anchored like a key's. A bad row
    // is left out, and reported.
    public func customKeyStores() async throws -> [CustomKeyStoreRecord] {
        var out: [CustomKeyStoreRecord] = []
        for c in try await inner.customKeyStores() {
            if try await check(MetadataSeal.bytes(c), c.seal) { out.append(c) } else { _ = await report(keyID: c.id, "its row") }
        }
        return out
    }

    public func put(_ store: CustomKeyStoreRecord) async throws {
        var c = store
        c.seal = try await sealer.seal(MetadataSeal.bytes(store))
        let sealedStore = c
        try await anchored({ _ in [(.customKeyStore(sealedStore.id), MetadataAnchorState.entry(sealedStore))] }) {
            try await inner.put(sealedStore)
        }
    }

    public func deleteCustomKeyStore(id: String) async throws {
        try await anchored({ _ in [(.customKeyStore(id), nil)] }) { try await inner.deleteCustomKeyStore(id: id) }
    }

    public func deleteGrant(id: String) async throws {
        try await anchored({ _ in [(.grant(id), nil)] }) { try await inner.deleteGrant(id: id) }
    }

    /// Every row, each checked: a row that fails is left out and its key (or
    /// alias) listed as tampered, and reported once.
    public func snapshot() async throws -> MetadataSnapshot {
        let raw = try await inner.snapshot()
        var out = MetadataSnapshot(keys: [], versions: [], aliases: [], importParameters: [],
                                   tamperedKeys: raw.tamperedKeys, tamperedAliases: raw.tamperedAliases)
        if anchor != nil {
            try await waitForAnchor()
            defer { anchorLock.signal() }
            let (keys, aliases) = try await load(raw)
            for (keyID, what) in keys.sorted(by: { $0.key < $1.key }) {
                if out.tamperedKeys[keyID] == nil { out.tamperedKeys[keyID] = what }
                _ = await report(keyID: keyID, what)
            }
            for (name, keyID) in aliases { out.tamperedAliases[name] = keyID }
        }
        func tampered(_ keyID: String, _ what: String) async {
            if out.tamperedKeys[keyID] == nil { out.tamperedKeys[keyID] = what }
            _ = await report(keyID: keyID, what)
        }
        for key in raw.keys {
            if try await check(MetadataSeal.bytes(key), key.seal) { out.keys.append(key) } else { await tampered(key.keyID, "its key row") }
        }
        for version in raw.versions {
            if try await check(MetadataSeal.bytes(version), version.seal) {
                out.versions.append(version)
            } else {
                await tampered(version.keyID, "the row of version \(version.version)")
            }
        }
        for parameters in raw.importParameters {
            if try await check(MetadataSeal.bytes(parameters), parameters.seal) {
                out.importParameters.append(parameters)
            } else {
                await tampered(parameters.keyID, "its import parameters")
            }
        }
        for grant in raw.grants {
            if try await check(MetadataSeal.bytes(grant), grant.seal) {
                out.grants.append(grant)
            } else {
                await tampered(grant.keyID, "the row of grant \(grant.grantID)")
            }
        }
        for alias in raw.aliases where out.tamperedAliases[alias.aliasName] == nil {
            if try await check(MetadataSeal.bytes(alias), alias.seal) {
                out.aliases.append(alias)
            } else {
                // The alias refuses service; the key it claims keeps its own rows.
                out.tamperedAliases[alias.aliasName] = alias.targetKeyID
                _ = await report(keyID: alias.targetKeyID, "the row of \(alias.aliasName)")
            }
        }
        // A key with any bad row refuses service as a whole.
        let refused = out.tamperedKeys
        out.keys.removeAll { refused[$0.keyID] != nil }
        out.grants.removeAll { refused[$0.keyID] != nil }
        return out
    }
}
