import Crypto
import Foundation

/// A JSON document signed by the token's audit key, checkable offline:
///
///     {"report":<the document>,"signature":{"algorithm":"ECDSA_P256_SHA_256",
///      "key_fingerprint":"SHA256:…","public_key":"<SPKI DER, base64>","value":"<DER, base64>"}}
///
/// The signature covers SHA-256 of the exact bytes of the `report` value as
/// they stand in the file, so no canonical JSON is needed: the writer puts
/// the document between the fixed prefix `{"report":` and the last
/// `,"signature":`, and the verifier takes those bytes back. The public key
/// travels along, so the file alone shows integrity; pinning its
/// fingerprint (`--key-fingerprint`, from `p11kms status` or the audit
/// log's own verification) shows who signed it.
public enum SignedDocument {
    public static let algorithm = "ECDSA_P256_SHA_256"
    static let prefix = Array(#"{"report":"#.utf8)
    static let separator = Array(#","signature":"#.utf8)

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    struct Signature: Codable {
        var algorithm: String
        var keyFingerprint: String
        var publicKey: String
        var value: String
        enum CodingKeys: String, CodingKey {
            case algorithm, value
            case keyFingerprint = "key_fingerprint", publicKey = "public_key"
        }
    }

    /// The digest a signer signs for `document`.
    public static func digest(_ document: Data) -> [UInt8] { Array(SHA256.hash(data: document)) }

    /// The signed file: `document` (JSON) and a DER ECDSA signature over
    /// `digest(document)` by the key whose SubjectPublicKeyInfo is `publicKeyDER`.
    public static func seal(_ document: Data, signature: [UInt8], publicKeyDER: [UInt8]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let trailer = try encoder.encode(Signature(
            algorithm: algorithm, keyFingerprint: AuditPublicKey.fingerprint(publicKeyDER),
            publicKey: Data(publicKeyDER).base64EncodedString(), value: Data(signature).base64EncodedString()))
        return Data(prefix) + document + Data(separator) + trailer + Data("}\n".utf8)
    }

    /// The document of an intact file, and the signer's fingerprint. Throws
    /// `Invalid` naming what is wrong: not this format, a document changed
    /// since it was signed, a signature by another key than `fingerprint`.
    public static func open(_ file: Data, expectedFingerprint fingerprint: String? = nil) throws -> (document: Data, fingerprint: String) {
        var bytes = [UInt8](file)
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") { bytes.removeLast() }
        guard bytes.starts(with: prefix), bytes.last == UInt8(ascii: "}"),
              let cut = lastRange(of: separator, in: bytes), cut > prefix.count else {
            throw Invalid("not a signed p11kms document: it must be {\"report\":…,\"signature\":{…}}")
        }
        let document = Data(bytes[prefix.count..<cut])
        let trailerBytes = Data(bytes[(cut + separator.count)..<(bytes.count - 1)])
        // The whole file must be one JSON object, and the document JSON itself.
        guard (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any],
              (try? JSONSerialization.jsonObject(with: document)) is [String: Any] else {
            throw Invalid("the file is not well-formed JSON")
        }
        guard let trailer = try? JSONDecoder().decode(Signature.self, from: trailerBytes) else {
            throw Invalid("the signature member is not {algorithm, key_fingerprint, public_key, value}")
        }
        guard trailer.algorithm == algorithm else { throw Invalid("unknown signature algorithm \(trailer.algorithm)") }
        guard let spki = Data(base64Encoded: trailer.publicKey), let der = Data(base64Encoded: trailer.value),
              let key = try? P256.Signing.PublicKey(derRepresentation: spki),
              let signature = try? P256.Signing.ECDSASignature(derRepresentation: der) else {
            throw Invalid("the public key or signature is not valid base64 DER")
        }
        let actual = AuditPublicKey.fingerprint([UInt8](spki))
        guard actual == trailer.keyFingerprint else {
            throw Invalid("the key fingerprint \(trailer.keyFingerprint) does not match the public key (\(actual))")
        }
        if let fingerprint {
            guard let wanted = AuditPublicKey.keyID(fromFingerprint: fingerprint) else {
                throw Invalid("\(fingerprint) is not a key fingerprint (SHA256: and 64 hex digits)")
            }
            guard "SHA256:" + wanted == actual else {
                throw Invalid("signed by \(actual), not by the expected key \(fingerprint)")
            }
        }
        guard key.isValidSignature(signature, for: SHA256.hash(data: document)) else {
            throw Invalid("the signature does not match the document: it was changed after it was signed")
        }
        return (document, actual)
    }

    private static func lastRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = haystack.count - needle.count
        while i >= 0 {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i -= 1
        }
        return nil
    }
}
