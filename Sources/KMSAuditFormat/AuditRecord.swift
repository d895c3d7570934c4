import Crypto
import Foundation

/// Who made a request, as the audit log records it: for a Unix-socket caller
/// the kernel's view of the peer (uid, gid, pid, executable) plus names where
/// the host knows them; for a TCP caller the access key it signed with, its
/// principal name and the remote address (no uid, gid or pid: it has none).
public struct AuditPrincipal: Sendable, Codable, Hashable {
    public var uid: UInt32?
    public var user: String?
    public var gid: UInt32?
    public var pid: Int32?
    public var executable: String?
    /// The access key id of a SigV4-signed request, when there was one (as
    /// claimed, for a request whose signature was refused).
    public var accessKey: String?
    /// The principal name of the access key that signed, once verified.
    public var accessKeyName: String?
    /// `host:port` of a TCP caller.
    public var remoteAddress: String?

    public init(uid: UInt32?, user: String? = nil, gid: UInt32?, pid: Int32?, executable: String? = nil,
                accessKey: String? = nil, accessKeyName: String? = nil, remoteAddress: String? = nil) {
        self.uid = uid
        self.user = user
        self.gid = gid
        self.pid = pid
        self.executable = executable
        self.accessKey = accessKey
        self.accessKeyName = accessKeyName
        self.remoteAddress = remoteAddress
    }

    /// How reports and notifications name the caller: `access_key:NAME`,
    /// `uid:N (user)`, or `unidentified`.
    public var name: String {
        if let key = accessKeyName { return "access_key:" + key }
        if let uid { return "uid:\(uid)" + (user.map { " (\($0))" } ?? "") }
        return "unidentified"
    }

    /// This process, for events the service records about itself.
    public static var service: AuditPrincipal {
        AuditPrincipal(uid: getuid(), gid: getgid(), pid: getpid())
    }

    /// A caller the service could not identify (peer credentials unreadable,
    /// or a TCP request without a valid signature).
    public static func unidentified(claimedAccessKey: String? = nil, remoteAddress: String? = nil) -> AuditPrincipal {
        AuditPrincipal(uid: nil, gid: nil, pid: nil, accessKey: claimedAccessKey, remoteAddress: remoteAddress)
    }

    enum CodingKeys: String, CodingKey {
        case uid, user, gid, pid, executable
        case accessKey = "access_key"
        case accessKeyName = "access_key_name"
        case remoteAddress = "remote_address"
    }
}

/// How a request ended.
public enum AuditOutcome: String, Sendable, Codable, Hashable {
    /// It succeeded.
    case allowed
    /// It was refused with AccessDeniedException.
    case denied
    /// It failed with any other error.
    case failed
}

/// What the service records about one request (or about itself, with `note`).
///
/// Deliberately has no field that could hold plaintext, data keys, key
/// material or PINs: `error` is the AWS exception name only, never a message.
/// Encryption context is recorded, as AWS CloudTrail does: it is not secret.
public struct AuditEvent: Sendable, Codable, Hashable {
    public var time: Date
    public var requestID: String
    public var operation: String
    public var principal: AuditPrincipal
    public var keyID: String?
    public var keyVersion: UInt32?
    public var encryptionContext: [String: String]?
    /// The grant that allowed the request, or that the request created,
    /// retired or revoked.
    public var grantID: String?
    public var outcome: AuditOutcome
    /// The AWS exception name (`AccessDeniedException`), never its message.
    public var error: String?
    public var durationMilliseconds: Double?
    /// Free text for service events ("metadata tamper detected for key X").
    public var note: String?

    public init(time: Date = Date(), requestID: String, operation: String, principal: AuditPrincipal,
                keyID: String? = nil, keyVersion: UInt32? = nil, encryptionContext: [String: String]? = nil,
                outcome: AuditOutcome, error: String? = nil, durationMilliseconds: Double? = nil,
                note: String? = nil, grantID: String? = nil) {
        self.grantID = grantID
        self.time = time
        self.requestID = requestID
        self.operation = operation
        self.principal = principal
        self.keyID = keyID
        self.keyVersion = keyVersion
        self.encryptionContext = encryptionContext
        self.outcome = outcome
        self.error = error
        self.durationMilliseconds = durationMilliseconds
        self.note = note
    }

    /// An event the service records about itself (startup, recovery, tamper
    /// detection), attributed to this process.
    public static func service(_ note: String, operation: String = "ServiceEvent", time: Date = Date()) -> AuditEvent {
        AuditEvent(time: time, requestID: UUID().uuidString.lowercased(), operation: operation,
                   principal: .service, outcome: .allowed, note: note)
    }

    // The Codable form is the same as an event line of the log (without
    // "seq", "prev" and "type"), so `JSONDecoder` reads an event line back
    // into an `AuditEvent` directly.
    enum CodingKeys: String, CodingKey {
        case time, operation, principal, outcome, error, note
        case requestID = "request_id"
        case keyID = "key_id"
        case keyVersion = "key_version"
        case encryptionContext = "encryption_context"
        case grantID = "grant_id"
        case durationMilliseconds = "duration_ms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let timeText = try c.decode(String.self, forKey: .time)
        guard let time = try? AuditLine.timeFormat.parse(timeText) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "not an ISO 8601 time")
        }
        self.time = time
        requestID = try c.decode(String.self, forKey: .requestID)
        operation = try c.decode(String.self, forKey: .operation)
        principal = try c.decode(AuditPrincipal.self, forKey: .principal)
        keyID = try c.decodeIfPresent(String.self, forKey: .keyID)
        keyVersion = try c.decodeIfPresent(UInt32.self, forKey: .keyVersion)
        encryptionContext = try c.decodeIfPresent([String: String].self, forKey: .encryptionContext)
        grantID = try c.decodeIfPresent(String.self, forKey: .grantID)
        outcome = try c.decode(AuditOutcome.self, forKey: .outcome)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        durationMilliseconds = try c.decodeIfPresent(Double.self, forKey: .durationMilliseconds)
        note = try c.decodeIfPresent(String.self, forKey: .note)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(AuditLine.formatTime(time), forKey: .time)
        try c.encode(requestID, forKey: .requestID)
        try c.encode(operation, forKey: .operation)
        try c.encode(principal, forKey: .principal)
        try c.encodeIfPresent(keyID, forKey: .keyID)
        try c.encodeIfPresent(keyVersion, forKey: .keyVersion)
        try c.encodeIfPresent(encryptionContext, forKey: .encryptionContext)
        try c.encodeIfPresent(grantID, forKey: .grantID)
        try c.encode(outcome, forKey: .outcome)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(AuditLine.roundedDuration(durationMilliseconds), forKey: .durationMilliseconds)
        try c.encodeIfPresent(note, forKey: .note)
    }
}

/// The line format of the audit log.
///
/// Every line is one compact JSON object followed by `\n`, keys in a fixed
/// order, written by hand (not `JSONEncoder`) so the bytes are the same on
/// every platform and release:
///
///     {"seq":7,"prev":"<64 hex>","type":"event","time":"2025-01-02T03:04:05.678Z",
///      "request_id":"…","operation":"Encrypt","principal":{"uid":1000,"user":"alice",
///      "gid":1000,"pid":4242,"executable":"/usr/bin/app"},"key_id":"…","key_version":1,
///      "encryption_context":{"k":"v"},"outcome":"allowed","duration_ms":1.25}
///     {"seq":8,"prev":"<64 hex>","type":"checkpoint","head":"<64 hex>","sig":"<base64>","key":"<64 hex>"}
///
/// - `seq` counts lines from 1, continuously across rotated files.
/// - `prev` is the hex SHA-256 of the previous line's bytes (without its
///   `\n`), or 64 zeros on line 1: the hash chain.
/// - Event fields are snake_case; absent optionals are left out;
///   encryption context keys are sorted.
/// - A checkpoint's `head` is the hash of the line before it (equal to its
///   `prev`); `sig` is the DER ECDSA P-256 signature over SHA-256(head's 32
///   bytes) made by the audit key, base64; `key` is the hex SHA-256 of the
///   audit key's SubjectPublicKeyInfo, so a verifier holding several keys
///   knows which one signed. A valid checkpoint vouches for every line before
///   it, because each line's hash covers the one before.
package enum AuditLine {
    package static let zeroHash = String(repeating: "0", count: 64)

    /// Reads the time format (any ISO 8601 time with fractional seconds).
    package static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// UTC, rounded to the millisecond: `2025-01-02T03:04:05.678Z`. By hand:
    /// the format style truncates, and a `Date` made from a decimal number of
    /// milliseconds is often a hair below it.
    package static func formatTime(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        let millis = Int(ms - Int64(seconds) * 1000)
        var t = tm()
        gmtime_r(&seconds, &t)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(Int(t.tm_year) + 1900, 4) + "-" + pad(Int(t.tm_mon) + 1, 2) + "-" + pad(Int(t.tm_mday), 2)
            + "T" + pad(Int(t.tm_hour), 2) + ":" + pad(Int(t.tm_min), 2) + ":" + pad(Int(t.tm_sec), 2)
            + "." + pad(millis, 3) + "Z"
    }

    package static func event(seq: UInt64, prev: String, _ e: AuditEvent) -> [UInt8] {
        var line = JSONObjectWriter()
        line.field("seq", seq)
        line.field("prev", prev)
        line.field("type", "event")
        line.field("time", formatTime(e.time))
        line.field("request_id", e.requestID)
        line.field("operation", e.operation)
        var who = JSONObjectWriter()
        if let uid = e.principal.uid { who.field("uid", UInt64(uid)) }
        if let user = e.principal.user { who.field("user", user) }
        if let gid = e.principal.gid { who.field("gid", UInt64(gid)) }
        if let pid = e.principal.pid { who.field("pid", number: String(pid)) }
        if let executable = e.principal.executable { who.field("executable", executable) }
        if let accessKey = e.principal.accessKey { who.field("access_key", accessKey) }
        if let name = e.principal.accessKeyName { who.field("access_key_name", name) }
        if let address = e.principal.remoteAddress { who.field("remote_address", address) }
        line.field("principal", object: who)
        if let keyID = e.keyID { line.field("key_id", keyID) }
        if let version = e.keyVersion { line.field("key_version", UInt64(version)) }
        if let context = e.encryptionContext {
            var object = JSONObjectWriter()
            for key in context.keys.sorted() { object.field(key, context[key]!) }
            line.field("encryption_context", object: object)
        }
        if let grantID = e.grantID { line.field("grant_id", grantID) }
        line.field("outcome", e.outcome.rawValue)
        if let error = e.error { line.field("error", error) }
        if let duration = roundedDuration(e.durationMilliseconds) { line.field("duration_ms", number: "\(duration)") }
        if let note = e.note { line.field("note", note) }
        return line.finish() + [newline]
    }

    package static func checkpoint(seq: UInt64, head: String, signature: [UInt8], keyID: String) -> [UInt8] {
        var line = JSONObjectWriter()
        line.field("seq", seq)
        line.field("prev", head)
        line.field("type", "checkpoint")
        line.field("head", head)
        line.field("sig", Data(signature).base64EncodedString())
        line.field("key", keyID)
        return line.finish() + [newline]
    }

    /// The message a checkpoint signs: SHA-256 of the head hash's 32 bytes.
    /// Callers of `P256` pass `headBytes` (it hashes); the HSM gets this digest.
    package static func checkpointDigest(headBytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: headBytes))
    }

    /// The chain hash of a line: hex SHA-256 of its bytes without the `\n`.
    package static func hash(_ line: some BidirectionalCollection<UInt8>) -> String {
        hex(Array(SHA256.hash(data: Array(line.last == newline ? line.dropLast() : line[...]))))
    }

    /// Microsecond resolution is plenty; non-finite values are left out.
    package static func roundedDuration(_ ms: Double?) -> Double? {
        guard let ms, ms.isFinite else { return nil }
        return (ms * 1000).rounded() / 1000
    }

    /// The fields every line has, and those of checkpoints; event fields are
    /// not needed to check the chain.
    package struct Header: Decodable {
        package var seq: UInt64?
        package var prev: String?
        package var type: String?
        package var head: String?
        package var sig: String?
        package var key: String?
    }

    package static let newline = UInt8(ascii: "\n")

    package static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes from lowercase or uppercase hex, or nil.
    package static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// A compact JSON object, fields in the order they are added.
struct JSONObjectWriter {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    init() { bytes.reserveCapacity(512) }

    mutating func field(_ name: String, _ value: String) {
        key(name)
        Self.appendString(value, to: &bytes)
    }

    mutating func field(_ name: String, _ value: UInt64) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A field whose value is already JSON number text.
    mutating func field(_ name: String, number: String) {
        key(name)
        bytes.append(contentsOf: number.utf8)
    }

    mutating func field(_ name: String, object: JSONObjectWriter) {
        key(name)
        bytes.append(contentsOf: object.finish())
    }

    func finish() -> [UInt8] { bytes + [UInt8(ascii: "}")] }

    private mutating func key(_ name: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// RFC 8259 string: `"` and `\` escaped, control characters as `\uXXXX`
    /// (or their short forms), everything else as UTF-8.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20, 0x7F:
                let digits = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(digits[Int(c >> 4)])
                out.append(digits[Int(c & 0x0F)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
