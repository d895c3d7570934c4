import Foundation

/// The annotations the plugin returns with a ciphertext, and how they are
/// authenticated. kube-apiserver stores them in plaintext beside the
/// ciphertext and hands them back on Decrypt, so they become the
/// ciphertext's encryption context: a changed, added or removed annotation
/// changes the AAD, and the HSM's GCM tag check refuses it.
///
/// The plugin writes one annotation, the Encrypt request's uid, so the
/// ciphertext is bound to the request that made it.
enum Annotations {
    /// The annotation holding the Encrypt request's uid.
    static let encryptUID = "encrypt-uid.kms.p11kms.io"
    /// Kubernetes' limit on keys plus values.
    static let maxTotalBytes = 32 * 1024
    /// A request uid: kube-apiserver sends a UUID; anything this long is not one.
    static let maxUIDBytes = 256

    /// What Encrypt returns for the request `uid`.
    static func forEncrypt(uid: String) -> [String: Data] {
        [encryptUID: Data(uid.utf8)]
    }

    /// The encryption context for a set of annotations, or nil if they could
    /// not have come from this plugin (a key that is not a fully qualified
    /// domain name, a value that is not UTF-8, too many bytes).
    static func encryptionContext(_ annotations: [String: Data]) -> [String: String]? {
        var total = 0
        var context: [String: String] = [:]
        for (key, value) in annotations {
            total += key.utf8.count + value.count
            guard total < maxTotalBytes, isFullyQualifiedDomainName(key),
                  let text = String(validating: value, as: UTF8.self) else { return nil }
            context[key] = text
        }
        return context
    }

    /// RFC 1123 subdomain with at least two labels, lower case, at most 253
    /// characters: Kubernetes' rule for annotation keys.
    static func isFullyQualifiedDomainName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            guard let first = label.first, let last = label.last, label.count <= 63 else { return false }
            func alphanumeric(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
            return alphanumeric(first) && alphanumeric(last) && label.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }
}
