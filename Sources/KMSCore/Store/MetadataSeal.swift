import Foundation
import KMSModel
import KMSTokenSetup
import PKCS11
import Synchronization

/// The bytes a row's seal covers: every field that grants or describes
/// power (policy, state, usage, versions and their material, aliases,
/// rotation and deletion schedules), length-prefixed and domain-separated.
/// Dates count in whole milliseconds, which survive the store's REAL
/// columns exactly. Left out: the description and tags (informational) and
/// a version's encryption counter, which changes on its own. A seal says
/// who wrote a row, not that it is the latest: rolled-back rows and
/// counters are caught by the token's anchor (`MetadataAnchor`).
enum MetadataSeal {
    private struct Writer {
        var bytes: [UInt8]
        init(_ domain: String) { bytes = Array("p11kms-seal-v1/\(domain)".utf8) }
        mutating func field(_ value: [UInt8]?) {
            guard let value else {
                bytes += [0xFF, 0xFF, 0xFF, 0xFF]
                return
            }
            withUnsafeBytes(of: UInt32(value.count).bigEndian) { bytes += $0 }
            bytes += value
        }
        mutating func field(_ s: String?) { field(s.map { Array($0.utf8) }) }
        mutating func field(_ n: Int64?) { field(n.map { String($0) }) }
        mutating func field(_ d: Date?) { field(d.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }) }
    }

    static func bytes(_ k: KeyRecord) -> [UInt8] {
        var w = Writer("key")
        w.field(k.keyID)
        w.field(k.createdAt)
        w.field(k.keySpec.rawValue)
        w.field(k.keyUsage.rawValue)
        w.field(k.origin.rawValue)
        w.field(k.state.rawValue)
        w.field(k.policy)
        w.field(k.deletionDate)
        w.field(k.pendingWindowInDays.map(Int64.init))
        w.field(k.rotationEnabled ? "rotation on" : "rotation off")
        w.field(k.rotationPeriodInDays.map(Int64.init))
        w.field(k.nextRotationDate)
        w.field(k.validTo)
        w.field(k.expirationModel?.rawValue)
        w.field(k.importedMaterialCheck)
        w.field(k.currentVersion.map(Int64.init))
        // Only when set, so the seals of rows made before custom key stores stay valid.
        if let store = k.customKeyStoreID { w.field("custom-key-store:" + store) }
        return w.bytes
    }

    static func bytes(_ c: CustomKeyStoreRecord) -> [UInt8] {
        var w = Writer("custom-key-store")
        w.field(c.id)
        w.field(c.name)
        w.field(c.clusterID)
        w.field(c.trustAnchorCertificate)
        w.field(c.encryptedPassword)
        w.field(c.createdAt)
        w.field(c.connected ? "connected" : "disconnected")
        return w.bytes
    }

    static func bytes(_ v: VersionRecord) -> [UInt8] {
        var w = Writer("version")
        w.field(v.keyID)
        w.field(Int64(v.version))
        w.field(v.createdAt)
        w.field(v.rotationType?.rawValue)
        w.field(v.storage.rawValue)
        w.field(v.objectID)
        w.field(v.wrappedKey)
        w.field(v.publicKey)
        // Only when set, so the seals of versions made before it was recorded stay valid.
        if let g = v.generationAttributes { w.field("generated:" + g.text) }
        return w.bytes
    }

    static func bytes(_ p: ImportParametersRecord) -> [UInt8] {
        var w = Writer("import-parameters")
        w.field(p.keyID)
        w.field(p.importToken)
        w.field(p.wrappingAlgorithm.rawValue)
        w.field(p.wrappingKeySpec.rawValue)
        w.field(p.objectID)
        w.field(p.publicKey)
        w.field(p.validTo)
        return w.bytes
    }

    /// Everything but the creation date's meaning is power: who, what, on
    /// which key, under which context. Constraint pairs go in key order.
    static func bytes(_ g: GrantRecord) -> [UInt8] {
        var w = Writer("grant")
        w.field(g.grantID)
        w.field(g.keyID)
        w.field(g.name)
        w.field(g.granteePrincipal)
        w.field(g.retiringPrincipal)
        w.field(g.operations.map(\.rawValue).joined(separator: ","))
        func pairs(_ context: [String: String]?) {
            guard let context else { return w.field(nil as [UInt8]?) }
            w.field(Int64(context.count))
            for k in context.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                w.field(k)
                w.field(context[k])
            }
        }
        pairs(g.constraints?.encryptionContextSubset)
        pairs(g.constraints?.encryptionContextEquals)
        w.field(g.createdAt)
        return w.bytes
    }

    static func bytes(_ a: AliasRecord) -> [UInt8] {
        var w = Writer("alias")
        w.field(a.aliasName)
        w.field(a.targetKeyID)
        w.field(a.createdAt)
        w.field(a.lastUpdatedAt)
        return w.bytes
    }
}

/// Makes and checks seals.
public protocol MetadataSealer: Sendable {
    func seal(_ bytes: [UInt8]) async throws -> [UInt8]
    func verify(_ bytes: [UInt8], seal: [UInt8]) async throws -> Bool
}

/// HMAC-SHA-256 in the HSM with the token's metadata-seal key, a
/// non-extractable generic secret that can only sign and verify. Whoever can
/// edit the database cannot make a seal without the token and its PIN.
public final class HSMMetadataSealer: MetadataSealer {
    public static let keyLabel = TokenSetup.sealKeyLabel
    private let pool: SessionPool
    private let handle: Mutex<(ObjectHandle, UInt64)?>

    public init(pool: SessionPool) async throws {
        self.pool = pool
        handle = Mutex(nil)
        _ = try await keyHandle()
    }

    /// The key's handle, found again after the pool lost its sessions.
    private func keyHandle() async throws -> ObjectHandle {
        let generation = pool.statistics.generation
        if let (h, g) = handle.withLock({ $0 }), g == generation { return h }
        let found = try await pool.withSession { s in
            try s.findObjects([.class(.secretKey), .token(true), .label(Self.keyLabel)])
        }
        guard found.count == 1 else {
            throw KMSError.internalError("the token has \(found.count) metadata-seal keys (\(Self.keyLabel)); expected one. "
                                         + "Run the token setup.")
        }
        handle.withLock { $0 = (found[0], generation) }
        return found[0]
    }

    public func seal(_ bytes: [UInt8]) async throws -> [UInt8] {
        let key = try await keyHandle()
        return try await pool.withSession { try $0.sign(bytes, key: key, mechanism: .sha256HMAC, expectedLength: 32) }
    }

    public func verify(_ bytes: [UInt8], seal: [UInt8]) async throws -> Bool {
        let key = try await keyHandle()
        return try await pool.withSession { try $0.verify(bytes, signature: seal, key: key, mechanism: .sha256HMAC) }
    }
}
