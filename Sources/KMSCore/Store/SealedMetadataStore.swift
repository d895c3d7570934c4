import Crypto
import Foundation
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
public final class SealedMetadataStore: MetadataStore {
    private let inner: any MetadataStore
    private let sealer: any MetadataSealer
    private let onTamper: @Sendable (String) async -> Void
    /// Digests of (bytes, seal) pairs the HSM has already confirmed, so an
    /// unchanged row is checked in the HSM once, not on every request.
    private let verified = Mutex(Set<Data>())
    private let tampered = Mutex<[String: String]>([:])

    public init(inner: any MetadataStore, sealer: any MetadataSealer,
                onTamper: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.inner = inner
        self.sealer = sealer
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
        try await inner.insert(try await sealed(key), version: v)
    }

    public func update(_ key: KeyRecord) async throws { try await inner.update(try await sealed(key)) }
    public func deleteKey(id: String) async throws { try await inner.deleteKey(id: id) }

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
        try await inner.add(try await sealed(version), updating: try await sealed(key))
    }

    public func deleteVersions(keyID: String, updating key: KeyRecord) async throws {
        try await inner.deleteVersions(keyID: keyID, updating: try await sealed(key))
    }

    public func reserveEncryptions(keyID: String, version: UInt32, reserved: UInt64) async throws {
        try await inner.reserveEncryptions(keyID: keyID, version: version, reserved: reserved)
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

    public func insert(_ alias: AliasRecord) async throws { try await inner.insert(try await sealed(alias)) }
    public func update(_ alias: AliasRecord) async throws { try await inner.update(try await sealed(alias)) }
    public func deleteAlias(name: String) async throws { try await inner.deleteAlias(name: name) }

    public func importParameters(keyID: String) async throws -> ImportParametersRecord? {
        guard let parameters = try await inner.importParameters(keyID: keyID) else { return nil }
        return try await checked(parameters)
    }
    public func put(_ parameters: ImportParametersRecord) async throws {
        var sealed = parameters
        sealed.seal = try await sealer.seal(MetadataSeal.bytes(parameters))
        try await inner.put(sealed)
    }
    public func deleteImportParameters(keyID: String) async throws { try await inner.deleteImportParameters(keyID: keyID) }
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
        try await inner.insert(g)
    }

    public func deleteGrant(id: String) async throws { try await inner.deleteGrant(id: id) }

    /// Every row, each checked: a row that fails is left out and its key (or
    /// alias) listed as tampered, and reported once.
    public func snapshot() async throws -> MetadataSnapshot {
        let raw = try await inner.snapshot()
        var out = MetadataSnapshot(keys: [], versions: [], aliases: [], importParameters: [],
                                   tamperedKeys: raw.tamperedKeys, tamperedAliases: raw.tamperedAliases)
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
        for alias in raw.aliases {
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
