/// A strict reader for the part of TOML the daemon's config uses: `[table]`
/// and `[table.sub]` headers, `key = value` with basic or literal strings, integers, booleans
/// and one-line arrays, and `#` comments. No TOML package resolves from the
/// registries this project can use (TOMLKit needs one that is not there), and
/// this subset is small enough to read exactly; anything else is an error
/// with its line number, never a silent guess.
public enum TOMLSubset {
    public enum Value: Equatable, Sendable {
        case string(String)
        case integer(Int)
        case bool(Bool)
        case array([Value])
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Tables by name ("" for keys before any header), each key to its value.
    public static func parse(_ text: String) throws -> [String: [String: Value]] {
        var tables: [String: [String: Value]] = ["": [:]]
        var current = ""
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var scanner = Scanner(Array(rawLine.utf8), line: lineNumber)
            scanner.skipSpaces()
            if scanner.atEndOrComment { continue }
            if scanner.peek == UInt8(ascii: "[") {
                scanner.advance()
                // A dotted header names a sub-table: [access_keys.billing].
                var name = try scanner.bareKey()
                while scanner.peek == UInt8(ascii: ".") {
                    scanner.advance()
                    name += "." + (try scanner.bareKey())
                }
                try scanner.expect("]")
                try scanner.expectEndOfLine()
                guard tables[name] == nil else { throw ParseError(line: lineNumber, message: "table [\(name)] appears twice") }
                tables[name] = [:]
                current = name
                continue
            }
            let key = try scanner.bareKey()
            scanner.skipSpaces()
            try scanner.expect("=")
            scanner.skipSpaces()
            let value = try scanner.value()
            try scanner.expectEndOfLine()
            guard tables[current]![key] == nil else {
                throw ParseError(line: lineNumber, message: "key \(key) appears twice")
            }
            tables[current]![key] = value
        }
        return tables
    }

    private struct Scanner {
        let bytes: [UInt8]
        public let line: Int
        var i = 0

        init(_ bytes: [UInt8], line: Int) {
            self.bytes = bytes.last == UInt8(ascii: "\r") ? Array(bytes.dropLast()) : bytes
            self.line = line
        }

        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }
        var atEndOrComment: Bool { peek == nil || peek == UInt8(ascii: "#") }
        mutating func advance() { i += 1 }
        mutating func skipSpaces() { while peek == 0x20 || peek == 0x09 { i += 1 } }

        func error(_ m: String) -> ParseError { ParseError(line: line, message: m) }

        mutating func expect(_ c: Character) throws {
            guard peek == c.asciiValue else { throw error("expected '\(c)'") }
            i += 1
        }

        mutating func expectEndOfLine() throws {
            skipSpaces()
            guard atEndOrComment else { throw error("unexpected text after the value") }
        }

        mutating func bareKey() throws -> String {
            let start = i
            while let c = peek, (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") { i += 1 }
            guard i > start else { throw error("expected a key (letters, digits, '_' or '-')") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func value() throws -> Value {
            guard let c = peek else { throw error("a value is missing") }
            switch c {
            case UInt8(ascii: "\""): return .string(try basicString())
            case UInt8(ascii: "'"): return .string(try literalString())
            case UInt8(ascii: "["):
                i += 1
                var items: [Value] = []
                while true {
                    skipSpaces()
                    if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
                    items.append(try value())
                    skipSpaces()
                    if peek == UInt8(ascii: ",") { i += 1; continue }
                    guard peek == UInt8(ascii: "]") else { throw error("expected ',' or ']' in an array") }
                }
            default:
                let start = i
                while let c = peek, c != 0x20, c != 0x09, c != UInt8(ascii: "#"), c != UInt8(ascii: ","),
                      c != UInt8(ascii: "]") { i += 1 }
                let word = String(decoding: bytes[start..<i], as: UTF8.self)
                if word == "true" { return .bool(true) }
                if word == "false" { return .bool(false) }
                if let n = Int(word.replacingOccurrences(of: "_", with: "")) { return .integer(n) }
                throw error("'\(word)' is not a string, integer, boolean or array (strings need quotes)")
            }
        }

        mutating func basicString() throws -> String {
            i += 1
            var out: [UInt8] = []
            while let c = peek {
                i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                if c == UInt8(ascii: "\\") {
                    guard let e = peek else { break }
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(e)
                    case UInt8(ascii: "\\"): out.append(e)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    default: throw error("unsupported escape \\\(Character(UnicodeScalar(e)))")
                    }
                    continue
                }
                out.append(c)
            }
            throw error("unterminated string")
        }

        mutating func literalString() throws -> String {
            i += 1
            let start = i
            while let c = peek, c != UInt8(ascii: "'") { i += 1 }
            guard peek != nil else { throw error("unterminated string") }
            defer { i += 1 }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
    }
}
