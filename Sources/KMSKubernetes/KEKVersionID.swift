/// The plugin's `key_id`: which version of which key sealed a ciphertext,
/// as `<key ARN>#v<version>`. kube-apiserver compares it with Status'
/// `key_id` to know which data is stale, so it must change on every
/// rotation and never come back: versions only grow, and a key deleted and
/// made again has a new key id. A key ARN is at most about 100 bytes, so the
/// whole stays far below the protocol's 1 KiB.
public struct KEKVersionID: Hashable, Sendable, CustomStringConvertible {
    public let keyARN: String
    public let version: UInt32

    public init(keyARN: String, version: UInt32) {
        self.keyARN = keyARN
        self.version = version
    }

    /// Parses what `description` writes; nil for anything else.
    public init?(_ text: String) {
        guard text.utf8.count <= 1024, let mark = text.range(of: "#v", options: .backwards),
              let version = UInt32(text[mark.upperBound...]), version >= 1,
              String(version) == text[mark.upperBound...] else { return nil }
        let arn = String(text[..<mark.lowerBound])
        guard arn.hasPrefix("arn:"), arn.contains(":key/") else { return nil }
        keyARN = arn
        self.version = version
    }

    public var description: String { "\(keyARN)#v\(version)" }
}
