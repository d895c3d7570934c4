import KMSModel

/// The symmetric ciphertext format (DESIGN.md §3):
///
///     "P11K" | format u8 = 1 | KeyId 16 bytes (UUID) | version u32 BE | iv 12 | ciphertext | tag 16
///
/// The AAD given to AES-GCM is the header before the IV followed by the
/// canonical encryption context, so key, version and context are all bound.
struct CiphertextBlob: Equatable {
    static let magic: [UInt8] = Array("P11K".utf8)
    static let format: UInt8 = 1
    static let headerLength = 4 + 1 + 16 + 4
    static let ivLength = 12
    static let tagLength = 16
    static let overhead = headerLength + ivLength + tagLength

    let keyID: String
    let version: UInt32
    let iv: [UInt8]
    let ciphertext: [UInt8]
    let tag: [UInt8]

    static func header(keyID: String, version: UInt32) -> [UInt8] {
        magic + [format] + (KeyIdentifier.uuidBytes(keyID) ?? []) + withUnsafeBytes(of: version.bigEndian) { Array($0) }
    }

    var header: [UInt8] { Self.header(keyID: keyID, version: version) }

    var serialized: [UInt8] { header + iv + ciphertext + tag }

    static func aad(keyID: String, version: UInt32, context: [String: String]) -> [UInt8] {
        header(keyID: keyID, version: version) + EncryptionContext.canonical(context)
    }

    /// Parses a blob. Anything malformed is `InvalidCiphertextException`, with
    /// the same message as every other ciphertext failure.
    static func parse(_ bytes: [UInt8]) throws -> CiphertextBlob {
        guard bytes.count >= overhead,
              Array(bytes[0..<4]) == magic, bytes[4] == format,
              let keyID = KeyIdentifier.keyID(fromUUIDBytes: bytes[5..<21]) else {
            throw KMSError.invalidCiphertext
        }
        let version = bytes[21..<25].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard version >= 1 else { throw KMSError.invalidCiphertext }
        let ivEnd = headerLength + ivLength
        return CiphertextBlob(keyID: keyID, version: version, iv: Array(bytes[headerLength..<ivEnd]),
                              ciphertext: Array(bytes[ivEnd..<(bytes.count - tagLength)]),
                              tag: Array(bytes.suffix(tagLength)))
    }
}

/// Encryption context: pairs bound to a ciphertext as AAD.
enum EncryptionContext {
    /// Pairs sorted by key (UTF-8 bytes), each as u16 BE length + key bytes +
    /// u16 BE length + value bytes. The length prefixes keep `{"ab":"c"}` and
    /// `{"a":"bc"}` apart.
    static func canonical(_ context: [String: String]) -> [UInt8] {
        var out: [UInt8] = []
        for (key, value) in context.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }) {
            for field in [Array(key.utf8), Array(value.utf8)] {
                out.append(UInt8(field.count >> 8))
                out.append(UInt8(field.count & 0xFF))
                out += field
            }
        }
        return out
    }

    /// AWS limits: the whole context at most 8192 bytes of keys and values
    /// (we also need each field to fit the u16 length prefix).
    static func validate(_ context: [String: String]?) throws {
        guard let context else { return }
        var total = 0
        for (key, value) in context {
            guard !key.isEmpty else { throw KMSError.validation("EncryptionContext keys must not be empty.") }
            total += key.utf8.count + value.utf8.count
        }
        guard total <= 8192 else {
            throw KMSError.validation("EncryptionContext must be at most 8192 bytes of keys and values.")
        }
    }
}
