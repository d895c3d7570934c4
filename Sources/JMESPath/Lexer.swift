/// Tokens of a JMESPath expression.
enum Token: Equatable {
    case unquoted(String), quoted(String), rawString(String), literal(JMESValue), number(Int)
    case dot, star, flatten, filter, lbracket, rbracket, lbrace, rbrace, lparen, rparen
    case comma, colon, pipe, or, and, not, expref, current
    case eq, ne, lt, le, gt, ge
    case eof

    /// Binding powers from the JMESPath reference implementation.
    var bindingPower: Int {
        switch self {
        case .pipe: 1
        case .or: 2
        case .and: 3
        case .eq, .ne, .lt, .le, .gt, .ge: 5
        case .flatten: 9
        case .star: 20
        case .filter: 21
        case .dot: 40
        case .not: 45
        case .lbrace: 50
        case .lbracket: 55
        case .lparen: 60
        default: 0
        }
    }
}

struct Lexer {
    static func tokens(_ text: String) throws(JMESPathError) -> [Token] {
        let s = Array(text.unicodeScalars)
        var i = 0
        var out: [Token] = []
        func peek(_ o: Int = 1) -> Unicode.Scalar? { i + o < s.count ? s[i + o] : nil }
        func isIdentStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c.isASCII && c.properties.isAlphabetic) }
        func isIdent(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || ("0"..."9").contains(c) }
        /// Reads up to an unescaped `end`, dropping the backslash of `\end` only.
        func delimited(_ end: Unicode.Scalar) throws(JMESPathError) -> String {
            i += 1
            var out = String.UnicodeScalarView()
            while i < s.count {
                if s[i] == "\\", i + 1 < s.count, s[i + 1] == end {
                    out.append(end); i += 2; continue
                }
                if s[i] == end { i += 1; return String(out) }
                out.append(s[i]); i += 1
            }
            throw .syntax("unterminated \(end) in expression")
        }
        while i < s.count {
            let c = s[i]
            switch c {
            case " ", "\t", "\n", "\r": i += 1
            case ".": out.append(.dot); i += 1
            case "*": out.append(.star); i += 1
            case "]": out.append(.rbracket); i += 1
            case "{": out.append(.lbrace); i += 1
            case "}": out.append(.rbrace); i += 1
            case "(": out.append(.lparen); i += 1
            case ")": out.append(.rparen); i += 1
            case ",": out.append(.comma); i += 1
            case ":": out.append(.colon); i += 1
            case "@": out.append(.current); i += 1
            case "[":
                if peek() == "]" { out.append(.flatten); i += 2 }
                else if peek() == "?" { out.append(.filter); i += 2 }
                else { out.append(.lbracket); i += 1 }
            case "|":
                if peek() == "|" { out.append(.or); i += 2 } else { out.append(.pipe); i += 1 }
            case "&":
                if peek() == "&" { out.append(.and); i += 2 } else { out.append(.expref); i += 1 }
            case "!":
                if peek() == "=" { out.append(.ne); i += 2 } else { out.append(.not); i += 1 }
            case "<":
                if peek() == "=" { out.append(.le); i += 2 } else { out.append(.lt); i += 1 }
            case ">":
                if peek() == "=" { out.append(.ge); i += 2 } else { out.append(.gt); i += 1 }
            case "=":
                guard peek() == "=" else { throw .syntax("'=' must be '==' at position \(i)") }
                out.append(.eq); i += 2
            case "'":
                out.append(.rawString(try delimited("'")))
            case "`":
                let body = try delimited("`")
                let v: JMESValue
                do { v = try JMESValue.parse(json: body) } catch {
                    throw .syntax("invalid JSON literal `\(body)`")
                }
                out.append(.literal(v))
            case "\"":
                let start = i
                i += 1
                while i < s.count, s[i] != "\"" { i += s[i] == "\\" ? 2 : 1 }
                guard i < s.count else { throw .syntax("unterminated quoted identifier") }
                i += 1
                var raw = ""
                raw.unicodeScalars.append(contentsOf: s[start..<i])
                guard case .string(let name) = try JMESValue.parse(json: raw) else {
                    throw .syntax("invalid quoted identifier")
                }
                out.append(.quoted(name))
            case "-", "0"..."9":
                let start = i
                i += 1
                while i < s.count, ("0"..."9").contains(s[i]) { i += 1 }
                var str = ""
                str.unicodeScalars.append(contentsOf: s[start..<i])
                guard let n = Int(str) else { throw .syntax("invalid number '\(str)'") }
                out.append(.number(n))
            default:
                guard isIdentStart(c) else { throw .syntax("unexpected character '\(c)' at position \(i)") }
                let start = i
                while i < s.count, isIdent(s[i]) { i += 1 }
                var str = ""
                str.unicodeScalars.append(contentsOf: s[start..<i])
                out.append(.unquoted(str))
            }
        }
        out.append(.eof)
        return out
    }
}
