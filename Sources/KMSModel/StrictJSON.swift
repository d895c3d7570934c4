/// RFC 8259 JSON, checked strictly before anything reads it.
///
/// Foundation's parsers accept what RFC 8259 does not (a trailing comma, as in
/// `{"NumberOfBytes": 32,}`), and on a duplicate member name they silently keep
/// one of the values, which need not be the one `jq` or Python would show. A
/// policy with `"Effect":"Allow",…,"Effect":"Deny"` must not mean one thing to
/// the daemon and another to the person reviewing it, so every request body and
/// every policy passes this scanner first: a duplicate name (compared after
/// unescaping, so `"a"` and `"\u0061"` are one name), a trailing comma, a
/// comment, a leading zero, an unescaped control character, a lone surrogate
/// escape, or nesting deeper than `maximumDepth` is refused with its line and
/// column. No Swift package on the machine does this: swift-corelibs-foundation
/// and swift-extras-json both keep the last duplicate.
///
/// The scanner only checks; it builds nothing, so the bytes are then decoded
/// by `JSONDecoder` as before.
public enum StrictJSON {
    /// Deep enough for any KMS request or policy; shallow enough that a
    /// hostile body cannot exhaust the stack of the recursive decoders after us.
    public static let maximumDepth = 64

    public struct SyntaxError: Error, Equatable, CustomStringConvertible, Sendable {
        public let reason: String
        public let line: Int
        public let column: Int
        public var description: String { "\(reason) at line \(line), column \(column)" }

        public init(reason: String, line: Int, column: Int) {
            self.reason = reason
            self.line = line
            self.column = column
        }
    }

    /// What the top level must be.
    public enum TopLevel: Sendable { case object, any }

    /// Throws `SyntaxError` unless `bytes` are exactly one JSON value (an
    /// object when `topLevel` is `.object`), with surrounding whitespace only.
    public static func validate<Bytes: Collection>(_ bytes: Bytes, topLevel: TopLevel = .object) throws
    where Bytes.Element == UInt8 {
        let buffer = Array(bytes)
        var scanner = Scanner(bytes: buffer)
        scanner.skipWhitespace()
        if topLevel == .object, scanner.peek != UInt8(ascii: "{") {
            throw scanner.error(scanner.peek == nil ? "empty document" : "the document is not a JSON object")
        }
        try scanner.value(depth: 0)
        scanner.skipWhitespace()
        if scanner.peek != nil { throw scanner.error("unexpected text after the JSON value") }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        func error(_ reason: String) -> SyntaxError {
            var line = 1, column = 1
            for byte in bytes[..<min(index, bytes.count)] {
                if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
            }
            return SyntaxError(reason: reason, line: line, column: column)
        }

        mutating func skipWhitespace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ literal: StaticString) throws {
            let text = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            guard bytes.count - index >= text.count, bytes[index..<index + text.count].elementsEqual(text) else {
                throw error("invalid literal")
            }
            index += text.count
        }

        mutating func value(depth: Int) throws {
            guard depth < StrictJSON.maximumDepth else { throw error("nesting deeper than \(StrictJSON.maximumDepth) levels") }
            guard let byte = peek else { throw error("unexpected end of the document") }
            switch byte {
            case UInt8(ascii: "{"): try object(depth: depth + 1)
            case UInt8(ascii: "["): try array(depth: depth + 1)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try expect("true")
            case UInt8(ascii: "f"): try expect("false")
            case UInt8(ascii: "n"): try expect("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws {
            index += 1  // {
            skipWhitespace()
            if peek == UInt8(ascii: "}") { index += 1; return }
            var names = Set<[UInt8]>()
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else {
                    throw error(peek == UInt8(ascii: "}") ? "trailing comma in an object" : "expected a member name")
                }
                let start = index
                let name = try string()
                guard names.insert(name).inserted else {
                    index = start
                    // Names are short in any real body; a long one is cut, not echoed whole.
                    let shown = String(decoding: name.prefix(64), as: UTF8.self) + (name.count > 64 ? "…" : "")
                    throw error("duplicate member name \"\(shown)\"")
                }
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
                index += 1
                skipWhitespace()
                try value(depth: depth)
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws {
            index += 1  // [
            skipWhitespace()
            if peek == UInt8(ascii: "]") { index += 1; return }
            while true {
                skipWhitespace()
                if peek == UInt8(ascii: "]") { throw error("trailing comma in an array") }
                try value(depth: depth)
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return
                default: throw error("expected ',' or ']' in an array")
                }
            }
        }

        /// Returns the string's UTF-8 after unescaping, so names compare as
        /// the decoders will see them.
        mutating func string() throws -> [UInt8] {
            index += 1  // "
            var out: [UInt8] = []
            while true {
                guard let byte = peek else { throw error("unterminated string") }
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard String(validating: out, as: UTF8.self) != nil else { throw error("a string is not valid UTF-8") }
                    return out
                case UInt8(ascii: "\\"):
                    index += 1
                    try escape(into: &out)
                case 0x00..<0x20:
                    throw error("unescaped control character in a string")
                default:
                    out.append(byte)
                    index += 1
                }
            }
        }

        mutating func escape(into out: inout [UInt8]) throws {
            guard let byte = peek else { throw error("unterminated string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("a high surrogate escape without its low half")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("a high surrogate escape without its low half") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("a lone low surrogate escape")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                index -= 1
                throw error("invalid escape sequence")
            }
        }

        mutating func hex4() throws -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = peek, let digit = hexDigit(byte) else { throw error("invalid \\u escape") }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        func hexDigit(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
            default: nil
            }
        }

        mutating func number() throws {
            if peek == UInt8(ascii: "-") { index += 1 }
            guard let first = peek, isDigit(first) else { throw error("invalid number") }
            index += 1
            if first == UInt8(ascii: "0"), let next = peek, isDigit(next) { throw error("a number with a leading zero") }
            digits()
            if peek == UInt8(ascii: ".") {
                index += 1
                guard let next = peek, isDigit(next) else { throw error("invalid number") }
                digits()
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard let next = peek, isDigit(next) else { throw error("invalid number") }
                digits()
            }
        }

        mutating func digits() {
            while let byte = peek, isDigit(byte) { index += 1 }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    }
}
