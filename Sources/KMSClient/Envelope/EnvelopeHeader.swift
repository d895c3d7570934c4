/// The header of an envelope (format version 1); see `EnvelopeEncryption`
/// for the whole format. All integers are big-endian.
///
/// ```
/// "P11E" | version u8 = 1 | frame size u32
///        | u16 length | key ARN (UTF-8)
///        | u16 length | canonical encryption context
///        | u16 length | encrypted data key (GenerateDataKey's CiphertextBlob)
///        | header tag (16 bytes)
/// ```
public struct EnvelopeHeader: Sendable, Hashable {
    public static let magic: [UInt8] = Array("P11E".utf8)
    public static let version: UInt8 = 1
    public static let tagLength = 16
    /// Frame sizes a header may name: large enough to be useful, small enough
    /// that a reader never allocates much on the word of an unverified header.
    public static let frameSizes = 1...(16 << 20)

    /// The ARN of the KMS key that made the data key.
    public var keyArn: String
    public var encryptionContext: [String: String]
    /// Plaintext bytes per frame; the final frame holds 0 ... frameSize.
    public var frameSize: Int
    /// The data key as KMS encrypted it (decrypted with one Decrypt call).
    public var encryptedDataKey: [UInt8]

    /// The header bytes the header tag authenticates (all but the tag).
    func serialized() throws -> [UInt8] {
        let context = try Self.canonical(encryptionContext)
        var out = Self.magic
        out.append(Self.version)
        out.appendBigEndian(UInt32(frameSize))
        for field in [Array(keyArn.utf8), context, encryptedDataKey] {
            guard field.count <= Int(UInt16.max) else {
                throw EnvelopeError(.encryptionContextTooLarge, "a header field is longer than 65535 bytes")
            }
            out.appendBigEndian(UInt16(field.count))
            out += field
        }
        return out
    }

    /// Reads a header (without its tag) from `reader`, checking the shape of
    /// every field. Returns the header and the exact bytes read.
    static func read(from reader: inout EnvelopeReader<some EnvelopeInput>) async throws -> (EnvelopeHeader, [UInt8]) {
        func malformed(_ why: String) -> EnvelopeError {
            EnvelopeError(.malformedHeader, "not a p11kms envelope, or its header is damaged: \(why)")
        }
        var bytes: [UInt8] = []
        func take(_ count: Int, _ what: String) async throws -> [UInt8] {
            let chunk = try await reader.read(exactly: count)
            guard chunk.count == count else { throw malformed("the input ends inside the \(what)") }
            bytes += chunk
            return chunk
        }
        func u16(_ what: String) async throws -> Int {
            Int(try await take(2, what + " length").bigEndianInteger(as: UInt16.self))
        }
        guard try await take(4, "magic") == magic else { throw malformed("it does not start with \"P11E\"") }
        let version = try await take(1, "version")[0]
        guard version == Self.version else {
            throw EnvelopeError(.unsupportedVersion, "envelope format version \(version) is not supported (this library reads version \(Self.version))")
        }
        let frameSize = Int(try await take(4, "frame size").bigEndianInteger(as: UInt32.self))
        guard frameSizes.contains(frameSize) else { throw malformed("frame size \(frameSize) is out of range") }
        let arnBytes = try await take(try await u16("key ARN"), "key ARN")
        guard let arn = String(validating: arnBytes, as: UTF8.self), arn.hasPrefix("arn:") else {
            throw malformed("the key ARN is not an ARN")
        }
        let context = parseCanonical(try await take(try await u16("encryption context"), "encryption context"))
        guard let context else { throw malformed("the encryption context is not in canonical form") }
        let dataKeyLength = try await u16("encrypted data key")
        // AWS ciphertexts are at most 6144 bytes.
        guard (1...6144).contains(dataKeyLength) else { throw malformed("the encrypted data key length is out of range") }
        let dataKey = try await take(dataKeyLength, "encrypted data key")
        return (EnvelopeHeader(keyArn: arn, encryptionContext: context, frameSize: frameSize, encryptedDataKey: dataKey), bytes)
    }

    /// The encryption context as DESIGN.md §3 canonicalises it: pairs sorted
    /// by key (UTF-8 bytes), each as u16 length + key + u16 length + value.
    static func canonical(_ context: [String: String]) throws -> [UInt8] {
        var out: [UInt8] = []
        for (key, value) in context.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            for field in [Array(key.utf8), Array(value.utf8)] {
                guard field.count <= Int(UInt16.max) else {
                    throw EnvelopeError(.encryptionContextTooLarge, "an encryption context entry is longer than 65535 bytes")
                }
                out.appendBigEndian(UInt16(field.count))
                out += field
            }
        }
        return out
    }

    /// The inverse of `canonical`, or nil unless `bytes` is exactly the
    /// canonical form of some context (sorted, unique keys, valid UTF-8).
    static func parseCanonical(_ bytes: [UInt8]) -> [String: String]? {
        var context: [String: String] = [:]
        var index = 0
        var previousKey: [UInt8]? = nil
        func field() -> [UInt8]? {
            guard bytes.count - index >= 2 else { return nil }
            let length = Int(bytes[index]) << 8 | Int(bytes[index + 1])
            index += 2
            guard bytes.count - index >= length else { return nil }
            defer { index += length }
            return Array(bytes[index..<(index + length)])
        }
        while index < bytes.count {
            guard let keyBytes = field(), let valueBytes = field(),
                  let key = String(validating: keyBytes, as: UTF8.self),
                  let value = String(validating: valueBytes, as: UTF8.self) else { return nil }
            if let previousKey, !previousKey.lexicographicallyPrecedes(keyBytes) { return nil }
            previousKey = keyBytes
            context[key] = value
        }
        return context
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    func bigEndianInteger<T: FixedWidthInteger>(as type: T.Type) -> T {
        precondition(count == MemoryLayout<T>.size)
        return reduce(T.zero) { $0 << 8 | T($1) }
    }
}
