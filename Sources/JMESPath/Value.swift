import Foundation

/// A JSON value with object keys in document order, so `keys()`,
/// `values()` and rendered output keep the order the input had.
public enum JMESValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JMESValue])
    case object(JMESObject)

    /// JMESPath truthiness: false, null and empty strings, arrays and objects are false.
    var isTruthy: Bool {
        switch self {
        case .null: false
        case .bool(let b): b
        case .number: true
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object(let o): !o.keys.isEmpty
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Compact JSON, as `to_string` and `--output json` of scalars need it.
    public var json: String {
        var out = ""
        write(to: &out, indent: nil, level: 0)
        return out
    }

    /// Pretty JSON with 4-space indentation, like the aws CLI's json output.
    public var prettyJSON: String {
        var out = ""
        write(to: &out, indent: "    ", level: 0)
        return out
    }

    func write(to out: inout String, indent: String?, level: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += Self.format(d)
        case .string(let s): Self.quote(s, into: &out)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                v.write(to: &out, indent: indent, level: level + 1)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "]"
        case .object(let o):
            if o.keys.isEmpty { out += "{}"; return }
            out += "{"
            for (i, k) in o.keys.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                Self.quote(k, into: &out)
                out += indent == nil ? ":" : ": "
                o.values[k]!.write(to: &out, indent: indent, level: level + 1)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "}"
        }
    }

    /// Integral values print without a fraction, as JSON integers do.
    public static func format(_ d: Double) -> String {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        out += "\""
    }
}

/// An ordered JSON object: equality ignores order, as JSON's does.
public struct JMESObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: JMESValue] = [:]

    public init() {}
    public init(_ pairs: [(String, JMESValue)]) { for (k, v) in pairs { self[k] = v } }

    public subscript(key: String) -> JMESValue? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var orderedValues: [JMESValue] { keys.map { values[$0]! } }

    public static func == (a: JMESObject, b: JMESObject) -> Bool { a.values == b.values }
}

extension JMESValue {
    /// Parses JSON text, keeping object key order.
    public static func parse(json text: String) throws(JMESPathError) -> JMESValue {
        var p = JSONReader(Array(text.unicodeScalars))
        let v = try p.value()
        p.skipSpace()
        guard p.i == p.s.count else { throw .syntax("trailing characters after JSON value") }
        return v
    }
}

struct JSONReader {
    let s: [Unicode.Scalar]
    var i = 0
    init(_ s: [Unicode.Scalar]) { self.s = s }

    mutating func skipSpace() { while i < s.count, " \t\n\r".unicodeScalars.contains(s[i]) { i += 1 } }

    mutating func value() throws(JMESPathError) -> JMESValue {
        skipSpace()
        guard i < s.count else { throw .syntax("unexpected end of JSON") }
        switch s[i] {
        case "{":
            i += 1
            var o = JMESObject()
            skipSpace()
            if i < s.count, s[i] == "}" { i += 1; return .object(o) }
            while true {
                skipSpace()
                guard i < s.count, s[i] == "\"" else { throw .syntax("expected a key in JSON object") }
                let k = try string()
                skipSpace()
                guard i < s.count, s[i] == ":" else { throw .syntax("expected ':' in JSON object") }
                i += 1
                o[k] = try value()
                skipSpace()
                guard i < s.count else { throw .syntax("unterminated JSON object") }
                if s[i] == "," { i += 1; continue }
                if s[i] == "}" { i += 1; return .object(o) }
                throw .syntax("expected ',' or '}' in JSON object")
            }
        case "[":
            i += 1
            var a: [JMESValue] = []
            skipSpace()
            if i < s.count, s[i] == "]" { i += 1; return .array(a) }
            while true {
                a.append(try value())
                skipSpace()
                guard i < s.count else { throw .syntax("unterminated JSON array") }
                if s[i] == "," { i += 1; continue }
                if s[i] == "]" { i += 1; return .array(a) }
                throw .syntax("expected ',' or ']' in JSON array")
            }
        case "\"": return .string(try string())
        case "t": try word("true"); return .bool(true)
        case "f": try word("false"); return .bool(false)
        case "n": try word("null"); return .null
        default:
            let start = i
            if s[i] == "-" { i += 1 }
            while i < s.count, "0123456789.eE+-".unicodeScalars.contains(s[i]) { i += 1 }
            var str = ""
            str.unicodeScalars.append(contentsOf: s[start..<i])
            guard !str.isEmpty, let d = Double(str), str.first != "+" , str.first != "." else { throw .syntax("invalid JSON value") }
            return .number(d)
        }
    }

    mutating func word(_ w: String) throws(JMESPathError) {
        for u in w.unicodeScalars {
            guard i < s.count, s[i] == u else { throw .syntax("invalid JSON literal") }
            i += 1
        }
    }

    mutating func string() throws(JMESPathError) -> String {
        i += 1
        var out = String.UnicodeScalarView()
        while i < s.count {
            let c = s[i]; i += 1
            if c == "\"" { return String(out) }
            if c != "\\" { out.append(c); continue }
            guard i < s.count else { break }
            let e = s[i]; i += 1
            switch e {
            case "\"": out.append("\"")
            case "\\": out.append("\\")
            case "/": out.append("/")
            case "b": out.append("\u{8}")
            case "f": out.append("\u{c}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "u":
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), i + 1 < s.count, s[i] == "\\", s[i + 1] == "u" {
                    i += 2
                    let low = try hex4()
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(code) else { throw .syntax("invalid \\u escape in JSON string") }
                out.append(u)
            default: throw .syntax("invalid escape in JSON string")
            }
        }
        throw .syntax("unterminated JSON string")
    }

    mutating func hex4() throws(JMESPathError) -> UInt32 {
        guard i + 4 <= s.count else { throw .syntax("short \\u escape") }
        var str = ""
        str.unicodeScalars.append(contentsOf: s[i..<i + 4])
        i += 4
        guard let v = UInt32(str, radix: 16) else { throw .syntax("invalid \\u escape") }
        return v
    }
}
