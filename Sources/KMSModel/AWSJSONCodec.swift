import Foundation
import Synchronization

/// The AWS JSON 1.1 body codec: member names in PascalCase on the wire
/// (`KeyId`, `EncryptionContext`) and lowerCamel in Swift, blobs as base64,
/// timestamps as epoch seconds. Map keys (encryption context) pass unchanged.
public enum AWSJSONCodec {
    /// Members whose wire name is not the property name with its first letter raised.
    private static let wireNames = ["awsAccountId": "AWSAccountId"]
    private static let propertyNames = Dictionary(uniqueKeysWithValues: wireNames.map { ($1, $0) })

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) {
            self.stringValue = String(intValue)
            self.intValue = intValue
        }
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        decoder.dataDecodingStrategy = .base64
        decoder.keyDecodingStrategy = .custom { path in Key(stringValue: propertyName(path.last!.stringValue)) }
        return decoder
    }

    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.dataEncodingStrategy = .base64
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .custom { path in Key(stringValue: wireName(path.last!.stringValue)) }
        return encoder
    }

    // One decoder and one encoder for every request: both are thread-safe,
    // and making them per request (options, lock, key-strategy closure) was
    // measurable on the request path (#13).
    private static let decoder = makeDecoder()
    private static let encoder = makeEncoder()

    /// Name conversions already made, in both directions. The key strategy
    /// runs for every member of every body, and the conversion allocates
    /// twice; a hit is a lookup. Member names in a body are the caller's, so
    /// the memo stops growing at `memoLimit` and converts the rest each time.
    private static let memo = Mutex<(wire: [String: String], property: [String: String])>(([:], [:]))
    private static let memoLimit = 2048

    static func propertyName(_ wire: String) -> String {
        if let known = memo.withLock({ $0.property[wire] }) { return known }
        let property = propertyNames[wire] ?? wire.prefix(1).lowercased() + wire.dropFirst()
        memo.withLock { if $0.property.count < memoLimit { $0.property[wire] = property } }
        return property
    }

    static func wireName(_ property: String) -> String {
        if let known = memo.withLock({ $0.wire[property] }) { return known }
        let wire = wireNames[property] ?? property.prefix(1).uppercased() + property.dropFirst()
        memo.withLock { if $0.wire.count < memoLimit { $0.wire[property] = wire } }
        return wire
    }

    /// Decodes a request body. An empty body is `{}`. Errors are AWS's:
    /// `SerializationException` for a body that is not a strict (RFC 8259,
    /// no duplicate members) JSON object of the right shape, `ValidationException` naming the member for a bad value.
    public static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        let data = body.isEmpty ? Data("{}".utf8) : body
        // Strict first: a duplicate member or a trailing comma that JSONDecoder
        // would quietly accept is refused here, with where it is.
        do {
            try StrictJSON.validate(data, topLevel: .object)
        } catch let error as StrictJSON.SyntaxError {
            throw KMSError(.serialization, "The request body is not a strict JSON object: \(error).")
        }
        do {
            return try decoder.decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) {
            throw KMSError(.serialization, "\(member(context.codingPath)) has the wrong JSON type.")
        } catch let DecodingError.dataCorrupted(context) {
            let name = member(context.codingPath)
            if context.underlyingError != nil || context.codingPath.isEmpty {
                throw KMSError(.serialization, "The request body is not valid JSON.")
            }
            throw KMSError.validation("\(name) has a value that is not allowed (an unknown enum value, or invalid base64).")
        } catch let DecodingError.valueNotFound(_, context) {
            throw KMSError(.serialization, "\(member(context.codingPath)) must not be null.")
        } catch let DecodingError.keyNotFound(key, context) {
            throw KMSError.validation("\(member(context.codingPath + [key])) is required.")
        } catch {
            throw KMSError(.serialization, "The request body could not be read.")
        }
    }

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        if value is EmptyResponse { return Data("{}".utf8) }
        return try encoder.encode(value)
    }

    /// `{"__type": "<Exception>", "message": "..."}`
    public static func errorBody(_ error: KMSError) -> Data {
        let object = ["__type": error.name.rawValue, "message": error.message]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    private static func member(_ path: [any CodingKey]) -> String {
        let names = path.map { key -> String in
            if let i = key.intValue { return "[\(i)]" }
            let s = key.stringValue
            return wireNames[s] ?? s.prefix(1).uppercased() + s.dropFirst()
        }
        return names.isEmpty ? "The body" : names.joined(separator: ".")
    }
}
