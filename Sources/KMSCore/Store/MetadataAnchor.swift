import Crypto
import Foundation
import PKCS11
import Synchronization

/// What the token remembers of the metadata store, so that a row (or the
/// whole database) put back from an earlier moment is caught at start-up
/// (issue #14, rollback detection).
///
/// Seals prove a row was written by p11kmsd, not that it is the latest row
/// written: an old row keeps a valid seal. So every sealed row, and every
/// version's encryption counter, is an entry of one of `bucketCount`
/// buckets, chosen by the key it belongs to; each bucket's digest covers its
/// entries exactly; and the token keeps the digest of every bucket. At
/// start-up a bucket whose rows no longer hash to what the token holds makes
/// every key in it refuse service. The database can be copied, edited and
/// restored; the token object cannot be without the PIN.
///
/// Why buckets rather than the per-row generations: a generation
/// only says a row is older than some other row, and to know a row's latest
/// generation the daemon needs a record the database cannot roll back,
/// which is this anchor. Digests of the exact rows make a generation column
/// unnecessary, and the anchor stays a fixed 32 KiB whatever the number of
/// keys, where a digest per key would grow past what an HSM's data object
/// holds. The price: a rolled-back key also stops the keys that share its
/// bucket (about n/1024 of n keys), until an admin acknowledges.
///
/// Why no HMAC over the anchor: only a PIN holder can write it, and a PIN
/// holder can seal any row anyway. The anchor protects against whoever holds
/// the database or its backups, not against the PIN.
public struct MetadataAnchorValue: Sendable, Hashable {
    public static let bucketCount = 1024
    static let magic = Array("p11kms-metadata-anchor-v1".utf8)

    /// The digest of each bucket's entries.
    public var buckets: [[UInt8]]
    /// Digests a bucket may also have: those of a change being committed.
    /// A crash between the commit and the anchor's final write leaves the
    /// store at either state, and both are legitimate.
    public var pending: [Int: [UInt8]]

    public init(buckets: [[UInt8]], pending: [Int: [UInt8]] = [:]) {
        precondition(buckets.count == Self.bucketCount)
        self.buckets = buckets
        self.pending = pending
    }

    /// The bucket of a key's rows: the first bits of SHA-256 of its id.
    public static func bucket(ofKey keyID: String) -> Int {
        SHA256.hash(data: Array(keyID.utf8)).withUnsafeBytes { (Int($0[0]) << 8 | Int($0[1])) % bucketCount }
    }

    func accepts(_ digest: [UInt8], bucket: Int) -> Bool {
        buckets[bucket] == digest || pending[bucket] == digest
    }

    var bytes: [UInt8] {
        var out = Self.magic
        for b in buckets { out += b }
        for (bucket, digest) in pending.sorted(by: { $0.key < $1.key }) {
            out += [UInt8(bucket >> 8), UInt8(bucket & 0xFF)] + digest
        }
        return out
    }

    init?(bytes: [UInt8]) {
        let fixed = Self.magic.count + Self.bucketCount * 32
        guard bytes.count >= fixed, Array(bytes.prefix(Self.magic.count)) == Self.magic,
              (bytes.count - fixed) % 34 == 0 else { return nil }
        var buckets: [[UInt8]] = []
        buckets.reserveCapacity(Self.bucketCount)
        for i in 0..<Self.bucketCount {
            let start = Self.magic.count + i * 32
            buckets.append(Array(bytes[start..<start + 32]))
        }
        var pending: [Int: [UInt8]] = [:]
        var at = fixed
        while at < bytes.count {
            let bucket = Int(bytes[at]) << 8 | Int(bytes[at + 1])
            guard bucket < Self.bucketCount else { return nil }
            pending[bucket] = Array(bytes[at + 2..<at + 34])
            at += 34
        }
        self.init(buckets: buckets, pending: pending)
    }
}

/// Where the anchor is kept.
public protocol MetadataAnchor: Sendable {
    func read() async throws -> MetadataAnchorValue?
    func write(_ value: MetadataAnchorValue) async throws
}

/// The anchor as a private `CKO_DATA` token object labelled
/// `p11kms-metadata-anchor`. As for the audit anchor, SoftHSM 2.6 refuses
/// C_SetAttributeValue on a data object's CKA_VALUE, so a write creates the
/// new object and then destroys the old ones. A crash in between leaves
/// two, each a legitimate state; the store is checked against both.
///
/// The handle of the object last written is kept (with the pool's session
/// generation, after which handles may change): C_FindObjects on SoftHSM
/// walks every token object, and with a KEK per key that is one scan per
/// key on each metadata change.
public final class HSMMetadataAnchor: MetadataAnchor {
    public static let label = "p11kms-metadata-anchor"
    private let pool: SessionPool
    private let current = Mutex<(handle: ObjectHandle, generation: UInt64)?>(nil)

    public init(pool: SessionPool) {
        self.pool = pool
    }

    public func read() async throws -> MetadataAnchorValue? {
        try await pool.withSession { s in
            var merged: MetadataAnchorValue?
            for object in try s.findObjects([.class(.data), .token(true), .label(Self.label)]) {
                guard let value = MetadataAnchorValue(bytes: try s.attribute(.value, of: object).value) else {
                    throw MetadataAnchorError.unreadable
                }
                // Two objects (a crash between create and destroy): accept
                // the digests of either, newer or older.
                guard var m = merged else { merged = value; continue }
                for b in 0..<MetadataAnchorValue.bucketCount where m.buckets[b] != value.buckets[b] {
                    m.pending[b] = value.buckets[b]
                }
                merged = m
            }
            return merged
        }
    }

    public func write(_ value: MetadataAnchorValue) async throws {
        let generation = pool.statistics.generation
        let known = current.withLock { c in c.flatMap { $0.generation == generation ? $0.handle : nil } }
        let made = try await pool.withTokenWrite { s -> ObjectHandle in
            let old = try known.map { [$0] } ?? s.findObjects([.class(.data), .token(true), .label(Self.label)])
            let new = try s.createObject([.class(.data), .token(true), .private(true), .label(Self.label),
                                          Attribute(.application, bytes: Array("p11kms".utf8)), .value(value.bytes)])
            for object in old { try s.destroyObject(object) }
            return new
        }
        current.withLock { $0 = (made, generation) }
    }
}

enum MetadataAnchorError: Error, CustomStringConvertible {
    case unreadable
    var description: String {
        "the token's metadata anchor (data object \(HSMMetadataAnchor.label)) is unreadable: it was written by "
            + "something other than p11kmsd. Delete it (p11kms token delete-object --label \(HSMMetadataAnchor.label)) to anchor the store as it is."
    }
}

/// The entries of every bucket, kept in memory by the sealed store and
/// checked against the anchor at start-up.
///
/// A bucket's digest is a two-level hash: of each key's digest in the
/// bucket, and each key's digest of its rows, kept sorted and cached. A
/// change rehashes one key's rows and its bucket's list of keys, not every
/// row of the bucket: a key rotated a thousand times has two thousand rows.
struct MetadataAnchorState: Sendable {
    /// Identifies one row (or counter) across the store.
    enum Row: Hashable, Sendable {
        case key(String)
        case version(String, UInt32)
        case counter(String, UInt32)
        case alias(String)
        case grant(String)
        case importParameters(String)
        case customKeyStore(String)

        var name: [UInt8] {
            switch self {
            case .key(let id): Array("k/\(id)".utf8)
            case .version(let id, let n): Array("v/\(id)/\(n)".utf8)
            case .counter(let id, let n): Array("c/\(id)/\(n)".utf8)
            case .alias(let name): Array("a/\(name)".utf8)
            case .grant(let id): Array("g/\(id)".utf8)
            case .importParameters(let id): Array("i/\(id)".utf8)
            case .customKeyStore(let id): Array("s/\(id)".utf8)
            }
        }
    }

    struct Entry: Sendable, Hashable {
        /// The key the row belongs to (an alias: the key it names); picks the bucket.
        var owner: String
        var digest: [UInt8]
    }

    /// One key's rows, sorted by name, and their digest once computed.
    private struct OwnerRows: Sendable {
        var rows: [(name: [UInt8], row: Row, digest: [UInt8])] = []
        var digest: [UInt8]?

        private func index(of name: [UInt8]) -> (Int, found: Bool) {
            var low = 0, high = rows.count
            while low < high {
                let mid = (low + high) / 2
                if rows[mid].name.lexicographicallyPrecedes(name) { low = mid + 1 } else { high = mid }
            }
            return (low, low < rows.count && rows[low].name == name)
        }

        mutating func put(_ row: Row, _ value: [UInt8]?) {
            let name = row.name
            let (at, found) = index(of: name)
            switch (found, value) {
            case (true, let value?): rows[at].digest = value
            case (true, nil): rows.remove(at: at)
            case (false, let value?): rows.insert((name, row, value), at: at)
            case (false, nil): return
            }
            digest = nil
        }

        mutating func computeDigest(owner: String) -> [UInt8] {
            if let digest { return digest }
            var h = SHA256()
            MetadataAnchorState.field(&h, Array("p11kms-metadata-key-v1/\(owner)".utf8))
            for r in rows {
                MetadataAnchorState.field(&h, r.name)
                MetadataAnchorState.field(&h, r.digest)
            }
            let d = Array(h.finalize())
            digest = d
            return d
        }
    }

    private(set) var entries: [Row: Entry] = [:]
    private var owners: [String: OwnerRows] = [:]
    private var bucketOwners: [Int: Set<String>] = [:]

    static func bucket(of keyID: String) -> Int { MetadataAnchorValue.bucket(ofKey: keyID) }

    fileprivate static func field(_ h: inout SHA256, _ part: [UInt8]) {
        withUnsafeBytes(of: UInt32(part.count).bigEndian) { h.update(bufferPointer: $0) }
        h.update(data: part)
    }

    /// Sets (or with nil removes) `row`; returns the buckets it touched.
    @discardableResult
    mutating func set(_ row: Row, _ entry: Entry?) -> Set<Int> {
        var touched: Set<Int> = []
        if let old = entries[row], old.owner != entry?.owner {
            owners[old.owner]?.put(row, nil)
            if owners[old.owner]?.rows.isEmpty == true {
                owners[old.owner] = nil
                bucketOwners[Self.bucket(of: old.owner)]?.remove(old.owner)
            }
            touched.insert(Self.bucket(of: old.owner))
        }
        entries[row] = entry
        if let entry {
            owners[entry.owner, default: OwnerRows()].put(row, entry.digest)
            let b = Self.bucket(of: entry.owner)
            bucketOwners[b, default: []].insert(entry.owner)
            touched.insert(b)
        }
        return touched
    }

    /// Rows of `keyID` matching `filter`.
    func rows(of keyID: String, where filter: (Row) -> Bool = { _ in true }) -> [Row] {
        (owners[keyID]?.rows ?? []).map(\.row).filter(filter)
    }

    /// The digest of one bucket: of its keys' digests, in id order.
    mutating func digest(bucket: Int) -> [UInt8] {
        var h = SHA256()
        Self.field(&h, Array("p11kms-metadata-bucket-v1".utf8))
        for owner in (bucketOwners[bucket] ?? []).sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            Self.field(&h, Array(owner.utf8))
            Self.field(&h, owners[owner]!.computeDigest(owner: owner))
        }
        return Array(h.finalize())
    }

    mutating func allDigests() -> [[UInt8]] { (0..<MetadataAnchorValue.bucketCount).map { digest(bucket: $0) } }

    /// The keys with rows in `bucket`, and the alias names in it.
    func contents(of bucket: Int) -> (keys: Set<String>, aliases: Set<String>) {
        let keys = bucketOwners[bucket] ?? []
        var aliases: Set<String> = []
        for key in keys {
            for r in owners[key]?.rows ?? [] {
                if case .alias(let name) = r.row { aliases.insert(name) }
            }
        }
        return (keys, aliases)
    }

    /// The entries of a snapshot's rows, read as they are, seals unchecked:
    /// a row with a bad seal changes its bucket's digest too.
    init(_ s: MetadataSnapshot) {
        for k in s.keys { set(.key(k.keyID), Entry(owner: k.keyID, digest: k.seal ?? [])) }
        for v in s.versions {
            set(.version(v.keyID, v.version), Entry(owner: v.keyID, digest: v.seal ?? []))
            set(.counter(v.keyID, v.version), Self.counter(v.keyID, v.encryptionsReserved))
        }
        for a in s.aliases { set(.alias(a.aliasName), Entry(owner: a.targetKeyID, digest: a.seal ?? [])) }
        for g in s.grants { set(.grant(g.grantID), Entry(owner: g.keyID, digest: g.seal ?? [])) }
        for p in s.importParameters { set(.importParameters(p.keyID), Entry(owner: p.keyID, digest: p.seal ?? [])) }
        for c in s.customKeyStores { set(.customKeyStore(c.id), Self.entry(c)) }
    }

    /// A custom key store's row is owned by its id, so it has a bucket of its own choosing.
    static func entry(_ c: CustomKeyStoreRecord) -> Entry { Entry(owner: c.id, digest: c.seal ?? []) }

    init() {}

    /// The count a counter entry holds.
    func counterValue(_ row: Row) -> UInt64? {
        guard let digest = entries[row]?.digest, digest.count == 8 else { return nil }
        return digest.reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func counter(_ keyID: String, _ reserved: UInt64) -> Entry {
        withUnsafeBytes(of: reserved.bigEndian) { Entry(owner: keyID, digest: Array($0)) }
    }
}
