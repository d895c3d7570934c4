import Foundation
import KMSModel
import Synchronization

/// The engine's authoritative, in-memory copy of every key, version, alias
/// and set of import parameters (DESIGN.md §9), in front of the durable
/// store. It is itself a `MetadataStore`, so the engine reads and writes
/// through one interface:
///
/// - **Reads never touch the store.** A request's key, version and alias come
///   from memory under a short lock, so the request path does no I/O and
///   never waits for a database connection (the cause of the 2-core
///   deadlock: synchronous SQLite reads on Swift's cooperative pool).
/// - **Writes go through.** Each change is committed to the store first and
///   then applied here, so what a request reads is always committed, and an
///   acknowledged change is visible to every later request. A store write
///   that has begun is finished even if its request is cancelled, so memory
///   and store never disagree about whether it happened.
/// - **Loaded and seal-checked at start.** `load(from:)` reads one snapshot;
///   rows that fail their integrity check are left out and their keys refuse
///   service with the integrity error. Edits made to the database behind a
///   running daemon have no effect on it (the registry is authoritative) and
///   are found at the next start.
///
/// The registry does not serialize changes of one key: the engine holds that
/// key's lock (`KMSEngine.withKeyLock`) around every read-modify-write, so
/// two changes never interleave and none is lost.
///
/// **Several daemons on one store** (the PostgreSQL store, later): each
/// daemon's registry is then only a cache of rows others may change. The
/// contract for that store is that every change commits with a notification
/// naming the key (PostgreSQL `NOTIFY`), every daemon listens and reloads
/// that key's rows (`reload(keyID:)`) before serving it again, and after a
/// lost notification channel reloads everything and refuses to serve from
/// the stale copy until it has. The per-key lock then becomes a row
/// generation compared-and-swapped in the store, since another host's change
/// does not take this process's lock.
public final class KeyRegistry: MetadataStore {
    private let inner: any MetadataStore

    private struct State {
        var keys: [String: KeyRecord] = [:]
        /// Key ids in byte order, for paging.
        var keyOrder: [String] = []
        var versions: [String: [VersionRecord]] = [:]
        var aliases: [String: AliasRecord] = [:]
        var aliasOrder: [String] = []
        var imports: [String: ImportParametersRecord] = [:]
        /// Each key's grants in grant id order, and which key each grant id is on.
        var grants: [String: [GrantRecord]] = [:]
        var grantKeys: [String: String] = [:]
        var tamperedKeys: [String: String] = [:]
        var tamperedAliases: [String: String] = [:]
    }

    private let state: Mutex<State>

    private init(inner: any MetadataStore, snapshot: MetadataSnapshot) {
        self.inner = inner
        var s = State()
        for key in snapshot.keys { s.keys[key.keyID] = key }
        s.keyOrder = s.keys.keys.sorted(by: Self.byteOrder)
        for version in snapshot.versions where s.keys[version.keyID] != nil {
            s.versions[version.keyID, default: []].append(version)
        }
        for id in s.versions.keys { s.versions[id]!.sort { $0.version < $1.version } }
        for alias in snapshot.aliases { s.aliases[alias.aliasName] = alias }
        s.aliasOrder = s.aliases.keys.sorted(by: Self.byteOrder)
        for parameters in snapshot.importParameters { s.imports[parameters.keyID] = parameters }
        for grant in snapshot.grants where s.keys[grant.keyID] != nil {
            s.grants[grant.keyID, default: []].append(grant)
            s.grantKeys[grant.grantID] = grant.keyID
        }
        for id in s.grants.keys { s.grants[id]!.sort { Self.byteOrder($0.grantID, $1.grantID) } }
        s.tamperedKeys = snapshot.tamperedKeys
        s.tamperedAliases = snapshot.tamperedAliases
        state = Mutex(s)
    }

    /// Reads every row of `inner` (seal-checked, if it is a sealed store) into memory.
    public static func load(from inner: any MetadataStore) async throws -> KeyRegistry {
        KeyRegistry(inner: inner, snapshot: try await inner.snapshot())
    }

    /// Keys with a row that failed its check, with what failed: those
    /// refused since load, and any the sealed store below reported.
    public var tamperedKeys: [String: String] {
        let reported = (inner as? SealedMetadataStore)?.tamperedKeys ?? [:]
        return state.withLock { $0.tamperedKeys }.merging(reported) { loaded, _ in loaded }
    }

    /// Accepts the store as it is as the state the token anchors (see
    /// `SealedMetadataStore`); the keys it returns serve after a restart.
    public func acknowledgeAnchorFindings() async throws -> [String: String] {
        try await (inner as? SealedMetadataStore)?.acknowledgeAnchorFindings() ?? [:]
    }

    /// Keys held because their rows are older than the token's anchor.
    public var anchorFindings: [String: String] { (inner as? SealedMetadataStore)?.anchorFindings ?? [:] }

    // Custom key stores: rare, admin-only calls, answered by the store.
    public func customKeyStores() async throws -> [CustomKeyStoreRecord] { try await inner.customKeyStores() }
    public func put(_ store: CustomKeyStoreRecord) async throws { try await durably { try await self.inner.put(store) } }
    public func deleteCustomKeyStore(id: String) async throws {
        try await durably { try await self.inner.deleteCustomKeyStore(id: id) }
    }

    /// The number of keys held (for metrics and tests).
    public var keyCount: Int { state.withLock { $0.keys.count } }

    /// Byte order of UTF-8, which is the store's listing order too.
    private static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    private static func insertionIndex(of id: String, in order: [String]) -> Int {
        var low = 0, high = order.count
        while low < high {
            let mid = (low + high) / 2
            if byteOrder(order[mid], id) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private static func insert(_ id: String, into order: inout [String]) {
        let i = insertionIndex(of: id, in: order)
        if i < order.count && order[i] == id { return }
        order.insert(id, at: i)
    }

    private static func remove(_ id: String, from order: inout [String]) {
        let i = insertionIndex(of: id, in: order)
        if i < order.count && order[i] == id { order.remove(at: i) }
    }

    /// Runs a store write to its end even if the calling task is cancelled:
    /// once it has begun, memory must follow whatever the store did.
    private func durably(_ write: @escaping @Sendable () async throws -> Void) async throws {
        try await Task { try await write() }.value
    }

    // MARK: Keys

    public func key(id: String) async throws -> KeyRecord? {
        try state.withLock { s in
            if let what = s.tamperedKeys[id] { throw SealedMetadataStore.integrityError(keyID: id, what) }
            return s.keys[id]
        }
    }

    public func keys(after: String?, limit: Int) async throws -> [KeyRecord] {
        guard limit > 0 else { return [] }
        return state.withLock { s in
            var i = 0
            if let after {
                i = Self.insertionIndex(of: after, in: s.keyOrder)
                if i < s.keyOrder.count && s.keyOrder[i] == after { i += 1 }
            }
            return s.keyOrder[i...].prefix(limit).compactMap { s.keys[$0] }
        }
    }

    public func insert(_ key: KeyRecord, version: VersionRecord?) async throws {
        try await durably { try await self.inner.insert(key, version: version) }
        state.withLock { s in
            s.keys[key.keyID] = key
            Self.insert(key.keyID, into: &s.keyOrder)
            s.versions[key.keyID] = version.map { [$0] } ?? []
        }
    }

    public func update(_ key: KeyRecord) async throws {
        try await durably { try await self.inner.update(key) }
        state.withLock { $0.keys[key.keyID] = key }
    }

    public func deleteKey(id: String) async throws {
        try await durably { try await self.inner.deleteKey(id: id) }
        state.withLock { s in
            s.keys[id] = nil
            Self.remove(id, from: &s.keyOrder)
            s.versions[id] = nil
            s.imports[id] = nil
            for grant in s.grants.removeValue(forKey: id) ?? [] { s.grantKeys[grant.grantID] = nil }
            // The store's ON DELETE CASCADE, in memory.
            for (name, alias) in s.aliases where alias.targetKeyID == id {
                s.aliases[name] = nil
                Self.remove(name, from: &s.aliasOrder)
            }
        }
    }

    // MARK: Versions

    public func versions(keyID: String) async throws -> [VersionRecord] {
        try state.withLock { s in
            if let what = s.tamperedKeys[keyID] { throw SealedMetadataStore.integrityError(keyID: keyID, what) }
            return s.versions[keyID] ?? []
        }
    }

    public func version(keyID: String, version: UInt32) async throws -> VersionRecord? {
        try state.withLock { s in
            if let what = s.tamperedKeys[keyID] { throw SealedMetadataStore.integrityError(keyID: keyID, what) }
            return s.versions[keyID]?.last(where: { $0.version == version })
        }
    }

    public func add(_ version: VersionRecord, updating key: KeyRecord) async throws {
        try await durably { try await self.inner.add(version, updating: key) }
        state.withLock { s in
            s.keys[key.keyID] = key
            s.versions[key.keyID, default: []].append(version)
            s.versions[key.keyID]!.sort { $0.version < $1.version }
        }
    }

    public func deleteVersions(keyID: String, updating key: KeyRecord) async throws {
        try await durably { try await self.inner.deleteVersions(keyID: keyID, updating: key) }
        state.withLock { s in
            s.keys[key.keyID] = key
            s.versions[keyID] = []
        }
    }

    public func replaceWrappedKeys(_ versions: [VersionRecord]) async throws {
        try await durably { try await self.inner.replaceWrappedKeys(versions) }
        state.withLock { s in
            for v in versions {
                guard let i = s.versions[v.keyID]?.firstIndex(where: { $0.version == v.version }) else { continue }
                s.versions[v.keyID]![i].wrappedKey = v.wrappedKey
                s.versions[v.keyID]![i].seal = v.seal
            }
        }
    }

    public func reserveEncryptions(keyID: String, version: UInt32, reserved: UInt64) async throws {
        try await durably { try await self.inner.reserveEncryptions(keyID: keyID, version: version, reserved: reserved) }
        state.withLock { s in
            guard let i = s.versions[keyID]?.firstIndex(where: { $0.version == version }) else { return }
            s.versions[keyID]![i].encryptionsReserved = max(s.versions[keyID]![i].encryptionsReserved, reserved)
        }
    }

    /// Every version row, straight from the store: only start-up
    /// reconciliation reads this, and it must see rows that failed their
    /// check too, so their material is never destroyed as an orphan.
    public func allVersions() async throws -> [VersionRecord] {
        try await inner.allVersions()
    }

    // MARK: Aliases

    public func alias(name: String) async throws -> AliasRecord? {
        try state.withLock { s in
            if let claimed = s.tamperedAliases[name] {
                throw SealedMetadataStore.integrityError(keyID: claimed, "the row of \(name)")
            }
            return s.aliases[name]
        }
    }

    public func aliases(keyID: String?, after: String?, limit: Int) async throws -> [AliasRecord] {
        guard limit > 0 else { return [] }
        return state.withLock { s in
            var i = 0
            if let after {
                i = Self.insertionIndex(of: after, in: s.aliasOrder)
                if i < s.aliasOrder.count && s.aliasOrder[i] == after { i += 1 }
            }
            var out: [AliasRecord] = []
            while i < s.aliasOrder.count && out.count < limit {
                if let alias = s.aliases[s.aliasOrder[i]], keyID == nil || alias.targetKeyID == keyID { out.append(alias) }
                i += 1
            }
            return out
        }
    }

    public func insert(_ alias: AliasRecord) async throws {
        try await durably { try await self.inner.insert(alias) }
        state.withLock { s in
            s.aliases[alias.aliasName] = alias
            Self.insert(alias.aliasName, into: &s.aliasOrder)
        }
    }

    public func update(_ alias: AliasRecord) async throws {
        try await durably { try await self.inner.update(alias) }
        state.withLock { $0.aliases[alias.aliasName] = alias }
    }

    public func deleteAlias(name: String) async throws {
        try await durably { try await self.inner.deleteAlias(name: name) }
        state.withLock { s in
            s.aliases[name] = nil
            Self.remove(name, from: &s.aliasOrder)
        }
    }

    // MARK: Import parameters

    public func importParameters(keyID: String) async throws -> ImportParametersRecord? {
        state.withLock { $0.imports[keyID] }
    }

    public func put(_ parameters: ImportParametersRecord) async throws {
        try await durably { try await self.inner.put(parameters) }
        state.withLock { $0.imports[parameters.keyID] = parameters }
    }

    public func deleteImportParameters(keyID: String) async throws {
        try await durably { try await self.inner.deleteImportParameters(keyID: keyID) }
        state.withLock { $0.imports[keyID] = nil }
    }

    public func allImportParameters() async throws -> [ImportParametersRecord] {
        state.withLock { s in s.imports.values.sorted { Self.byteOrder($0.keyID, $1.keyID) } }
    }

    // MARK: Last use (not held in memory: KeyUsageTracker holds the latest)

    public func usage(keyID: String) async throws -> [KeyUsageRecord] { try await inner.usage(keyID: keyID) }
    public func recordUsage(_ uses: [KeyUsageRecord]) async throws {
        try await durably { try await self.inner.recordUsage(uses) }
    }
    public func usageTrackingStart() async throws -> Date { try await inner.usageTrackingStart() }

    // MARK: Grants

    public func grants(keyID: String) async throws -> [GrantRecord] {
        try grantsNow(keyID: keyID)
    }

    /// The grants of a key, from memory without suspending: what request
    /// authorization reads.
    func grantsNow(keyID: String) throws -> [GrantRecord] {
        try state.withLock { s in
            if let what = s.tamperedKeys[keyID] { throw SealedMetadataStore.integrityError(keyID: keyID, what) }
            return s.grants[keyID] ?? []
        }
    }

    /// The grant with this id, on whichever key it is.
    func grant(id: String) -> GrantRecord? {
        state.withLock { s in
            guard let keyID = s.grantKeys[id] else { return nil }
            return s.grants[keyID]?.first { $0.grantID == id }
        }
    }

    /// Every grant whose retiring principal is spelt `retiring`, in grant id order.
    func grants(retiringPrincipal retiring: String) -> [GrantRecord] {
        state.withLock { s in
            s.grants.values.joined().filter { $0.retiringPrincipal == retiring }
                .sorted { Self.byteOrder($0.grantID, $1.grantID) }
        }
    }

    public func insert(_ grant: GrantRecord) async throws {
        try await durably { try await self.inner.insert(grant) }
        state.withLock { s in
            var list = s.grants[grant.keyID] ?? []
            list.append(grant)
            list.sort { Self.byteOrder($0.grantID, $1.grantID) }
            s.grants[grant.keyID] = list
            s.grantKeys[grant.grantID] = grant.keyID
        }
    }

    public func deleteGrant(id: String) async throws {
        try await durably { try await self.inner.deleteGrant(id: id) }
        state.withLock { s in
            guard let keyID = s.grantKeys.removeValue(forKey: id) else { return }
            s.grants[keyID]?.removeAll { $0.grantID == id }
        }
    }

    // MARK: Loading and health

    public func snapshot() async throws -> MetadataSnapshot {
        state.withLock { s in
            MetadataSnapshot(keys: s.keyOrder.compactMap { s.keys[$0] },
                             versions: s.keyOrder.flatMap { s.versions[$0] ?? [] },
                             aliases: s.aliasOrder.compactMap { s.aliases[$0] },
                             importParameters: Array(s.imports.values),
                             grants: s.keyOrder.flatMap { s.grants[$0] ?? [] },
                             tamperedKeys: s.tamperedKeys, tamperedAliases: s.tamperedAliases)
        }
    }

    public func checkWritable() async throws { try await inner.checkWritable() }
}
