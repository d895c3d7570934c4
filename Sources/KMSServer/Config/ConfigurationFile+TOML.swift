import TOMLKit

extension ConfigurationFile {
    /// Parses and decodes `text`, or throws `DaemonConfiguration.Invalid` naming
    /// the key and its line. TOMLKit's parse errors carry a line; its decoding
    /// errors carry only a key path, so the line is found in the text.
    static func decode(_ text: String) throws -> ConfigurationFile {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw DaemonConfiguration.Invalid(
                description: "line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        }
        let lines = TOMLKeyLines(text)
        do {
            return try TOMLDecoder(strictDecoding: true).decode(ConfigurationFile.self, from: table)
        } catch let e as UnexpectedKeysError {
            let unknown = e.keys.values.map { path in path.map(\.stringValue) }
                .map { path in (path: path, line: lines.line(of: path)) }
                .sorted { ($0.line ?? .max, $0.path.joined(separator: ".")) < ($1.line ?? .max, $1.path.joined(separator: ".")) }
            throw DaemonConfiguration.Invalid(description: unknown.map { path, line in
                let name = path.joined(separator: ".")
                let what = table.value(at: path)?.type == .table ? "unknown table [\(name)]" : "unknown key \(name)"
                return what + Self.at(line)
            }.joined(separator: "; "))
        } catch let e as DecodingError {
            throw Self.wrongType(e, table: table, lines: lines)
        }
    }

    private static func at(_ line: Int?) -> String { line.map { " (line \($0))" } ?? "" }

    /// Every member is optional, so a DecodingError means a value of the wrong
    /// type: TOMLKit reports it as a type mismatch, or, for scalars, as the key
    /// "not found" with the type it wanted named in the message.
    private static func wrongType(_ error: DecodingError, table: TOMLTable, lines: TOMLKeyLines) -> DaemonConfiguration.Invalid {
        let context: DecodingError.Context
        var expected: String?
        switch error {
        case .typeMismatch(let type, let c):
            context = c
            expected = describe(typeName: "\(type)")
        case .keyNotFound(_, let c):
            context = c
            // `A "Int" does not exist at "pool_size" in the TOML table.`
            let quoted = c.debugDescription.split(separator: "\"", omittingEmptySubsequences: false)
            if quoted.count > 2 { expected = describe(typeName: String(quoted[1])) }
        case .valueNotFound(_, let c), .dataCorrupted(let c):
            context = c
        @unknown default:
            return DaemonConfiguration.Invalid(description: "\(error)")
        }
        let keys = context.codingPath.filter { $0.intValue == nil }.map(\.stringValue)
        let name = context.codingPath.reduce(into: "") { name, key in
            if let index = key.intValue { name += "[\(index)]" } else { name += name.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        let found = context.codingPath.last?.intValue == nil ? table.value(at: keys).map { ", not " + withArticle("\($0.type)") } ?? "" : ""
        let sentence = expected.map { "\(name) must be \($0)\(found)" } ?? "\(name) has the wrong type\(found)"
        return DaemonConfiguration.Invalid(description: sentence + at(lines.line(of: keys)))
    }

    private static func withArticle(_ noun: String) -> String {
        (noun.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + noun
    }

    private static func describe(typeName: String) -> String? {
        switch typeName {
        case "Int", "Int64": "an integer"
        case "String": "a string"
        case "Bool": "true or false"
        case "TOMLArray": "an array"
        case "TOMLTable": "a table"
        default: nil
        }
    }
}

extension TOMLTable {
    /// The value at a key path, tables all the way down; nil if any is missing.
    func value(at path: [String]) -> (any TOMLValueConvertible)? {
        guard let first = path.first, let value = self[first] else { return nil }
        if path.count == 1 { return value }
        return value.table?.value(at: Array(path.dropFirst()))
    }
}

/// The line each key and table header of a TOML document is on, read from
/// the text because TOMLKit's decoded values keep no source positions. It
/// reads `[table]` headers and `key = ` lines (bare, quoted or dotted keys);
/// a key inside an inline table is placed on the line of its table's key.
struct TOMLKeyLines {
    private var lines: [[String]: Int] = [:]

    init(_ text: String) {
        var table: [String] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                let inner = line.drop { $0 == "[" }.prefix { $0 != "]" }
                table = Self.keyPath(inner)
                record(table, index + 1)
            } else if let equals = Self.unquotedEquals(in: line) {
                let key = Self.keyPath(line[..<equals])
                if !key.isEmpty { record(table + key, index + 1) }
            }
        }
    }

    /// The first line naming `path`; a dotted key or header also defines the
    /// tables along it (`a.b.c = 1` makes table a.b), placed there if not before.
    private mutating func record(_ path: [String], _ line: Int) {
        for end in path.indices where lines[Array(path[...end])] == nil {
            lines[Array(path[...end])] = line
        }
    }

    /// The line of `path`, or of its longest prefix that has one (an inline
    /// table's key, or the header of the table holding an unknown key).
    func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path] { return line }
            path.removeLast()
        }
        return nil
    }

    /// `a."b.c" . d` → ["a", "b.c", "d"]
    private static func keyPath(_ text: Substring) -> [String] {
        var parts: [String] = [], current = "", quote: Character?
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                parts.append(current); current = ""
            } else if c != " " && c != "\t" {
                current.append(c)
            }
        }
        parts.append(current)
        return parts.contains("") ? [] : parts
    }

    /// The `=` of a `key = value` line, outside a quoted key; nil for lines
    /// that hold no key (comments, blank lines, array continuations).
    private static func unquotedEquals(in line: Substring) -> Substring.Index? {
        guard let first = line.first, first != "#" else { return nil }
        var quote: Character?
        for i in line.indices {
            let c = line[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "=" {
                return i
            } else if !(c.isLetter || c.isNumber || c == "_" || c == "-" || c == "." || c == " " || c == "\t") {
                return nil
            }
        }
        return nil
    }
}
