import Foundation
import KMSModel

/// The ARN shape AWS SDKs parse: `arn:<partition>:kms:<region>:<account>:key/<id>`.
public struct ARNFormat: Sendable, Hashable {
    public var partition: String
    public var region: String
    public var account: String

    public init(partition: String = "aws", region: String = "local", account: String = "000000000000") {
        self.partition = partition
        self.region = region
        self.account = account
    }

    var prefix: String { "arn:\(partition):kms:\(region):\(account):" }
    public func keyARN(_ keyID: String) -> String { prefix + "key/" + keyID }
    public func aliasARN(_ aliasName: String) -> String { prefix + aliasName }
}

/// What a caller may put in a `KeyId` member, parsed.
enum KeyIdentifier: Equatable {
    case keyID(String)
    case aliasName(String)

    /// Parses a key id, key ARN, alias name or alias ARN. ARNs of another
    /// partition, region or account name keys that are not here.
    static func parse(_ raw: String, arn: ARNFormat) throws -> KeyIdentifier {
        guard !raw.isEmpty, raw.utf8.count <= 2048 else {
            throw KMSError.validation("KeyId must be 1 to 2048 characters long.")
        }
        if raw.hasPrefix("arn:") {
            let parts = raw.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count == 6, parts[2] == "kms" else {
                throw KMSError(.invalidArn, "\(raw) is not a KMS key or alias ARN.")
            }
            guard raw.hasPrefix(arn.prefix) else {
                throw KMSError.notFound("\(raw) is not in this service's partition, region and account (\(arn.prefix)).")
            }
            let resource = String(parts[5])
            if resource.hasPrefix("key/") { return .keyID(String(resource.dropFirst(4))) }
            if resource.hasPrefix("alias/") { return .aliasName(resource) }
            throw KMSError(.invalidArn, "\(raw) names neither a key nor an alias.")
        }
        if raw.hasPrefix("alias/") { return .aliasName(raw) }
        return .keyID(raw)
    }

    static func newKeyID() -> String { UUID().uuidString.lowercased() }

    /// The 16 UUID bytes of a key id, as the ciphertext header carries them.
    ///
    /// Parsed here rather than by `UUID(uuidString:)`, which goes through
    /// `sscanf` and was 2% of an Encrypt's CPU (it runs twice per request,
    /// for the AAD and the blob, #13). Same grammar: 8-4-4-4-12 hex digits
    /// of either case.
    static func uuidBytes(_ keyID: String) -> [UInt8]? {
        var text = keyID
        return text.withUTF8(parseUUID)
    }

    private static func parseUUID(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard text.count == 36 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        var out = 0
        var high: UInt8?
        for (i, c) in text.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                continue
            }
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                bytes[out] = h << 4 | nibble
                out += 1
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }

    static func keyID(fromUUIDBytes bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.count == 16 else { return nil }
        let b = Array(bytes)
        let uuid = UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                               b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
        return uuid.uuidString.lowercased()
    }
}
