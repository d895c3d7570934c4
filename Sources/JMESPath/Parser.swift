/// A Pratt parser following the JMESPath reference implementation's grammar.
struct Parser {
    var tokens: [Token]
    var pos = 0

    static func parse(_ text: String) throws(JMESPathError) -> Node {
        var p = Parser(tokens: try Lexer.tokens(text))
        let node = try p.expression(0)
        guard p.current == .eof else { throw .syntax("unexpected token \(p.current) after expression") }
        return node
    }

    var current: Token { tokens[pos] }
    func lookahead(_ n: Int) -> Token { pos + n < tokens.count ? tokens[pos + n] : .eof }
    mutating func advance() { if pos < tokens.count - 1 { pos += 1 } }
    mutating func match(_ t: Token) throws(JMESPathError) {
        guard current == t else { throw .syntax("expected \(t), found \(current)") }
        advance()
    }

    mutating func expression(_ bp: Int) throws(JMESPathError) -> Node {
        let tok = current
        advance()
        var left = try nud(tok)
        while bp < current.bindingPower {
            let t = current
            advance()
            left = try led(t, left)
        }
        return left
    }

    mutating func nud(_ t: Token) throws(JMESPathError) -> Node {
        switch t {
        case .literal(let v): return .literal(v)
        case .rawString(let s): return .literal(.string(s))
        case .unquoted(let s): return .field(s)
        case .quoted(let s):
            if current == .lparen { throw .syntax("quoted identifier cannot be a function name") }
            return .field(s)
        case .star: return .valueProjection(.identity, try projectionRHS(Token.star.bindingPower))
        case .filter: return try ledFilter(.identity)
        case .lbrace: return try multiHash()
        case .lparen:
            let e = try expression(0)
            try match(.rparen)
            return e
        case .flatten: return .projection(.flatten(.identity), try projectionRHS(Token.flatten.bindingPower))
        case .not: return .not(try expression(Token.not.bindingPower))
        case .lbracket:
            if case .number = current { return try projectIfSlice(.identity, try indexExpression()) }
            if current == .colon { return try projectIfSlice(.identity, try indexExpression()) }
            if current == .star, lookahead(1) == .rbracket {
                advance(); advance()
                return .projection(.identity, try projectionRHS(Token.star.bindingPower))
            }
            return try multiList()
        case .current: return .current
        case .expref: return .expref(try expression(Token.expref.bindingPower))
        case .eof: throw .syntax("unexpected end of expression")
        default: throw .syntax("unexpected token \(t)")
        }
    }

    mutating func led(_ t: Token, _ left: Node) throws(JMESPathError) -> Node {
        switch t {
        case .dot:
            if current != .star {
                return .subexpression(left, try dotRHS(Token.dot.bindingPower))
            }
            advance()
            return .valueProjection(left, try projectionRHS(Token.dot.bindingPower))
        case .pipe: return .pipe(left, try expression(Token.pipe.bindingPower))
        case .or: return .or(left, try expression(Token.or.bindingPower))
        case .and: return .and(left, try expression(Token.and.bindingPower))
        case .lparen:
            guard case .field(let name) = left else { throw .syntax("invalid function call") }
            var args: [Node] = []
            while current != .rparen {
                args.append(try expression(0))
                if current == .comma {
                    advance()
                    if current == .rparen { throw .syntax("trailing comma in function arguments") }
                } else if current != .rparen {
                    throw .syntax("expected ',' or ')' in function arguments")
                }
            }
            try match(.rparen)
            return .function(name, args)
        case .filter: return try ledFilter(left)
        case .eq, .ne, .lt, .le, .gt, .ge: return .comparator(t, left, try expression(t.bindingPower))
        case .flatten: return .projection(.flatten(left), try projectionRHS(Token.flatten.bindingPower))
        case .lbracket:
            if case .number = current { return try projectIfSlice(left, try indexExpression()) }
            if current == .colon { return try projectIfSlice(left, try indexExpression()) }
            try match(.star)
            try match(.rbracket)
            return .projection(left, try projectionRHS(Token.star.bindingPower))
        default: throw .syntax("unexpected token \(t)")
        }
    }

    mutating func ledFilter(_ left: Node) throws(JMESPathError) -> Node {
        let cond = try expression(0)
        try match(.rbracket)
        let right: Node = current == .flatten ? .identity : try projectionRHS(Token.filter.bindingPower)
        return .filterProjection(left, right, cond)
    }

    mutating func projectIfSlice(_ left: Node, _ right: Node) throws(JMESPathError) -> Node {
        let ie = Node.indexExpression(left, right)
        if case .slice = right { return .projection(ie, try projectionRHS(Token.star.bindingPower)) }
        return ie
    }

    mutating func indexExpression() throws(JMESPathError) -> Node {
        if current == .colon || lookahead(1) == .colon { return try sliceExpression() }
        guard case .number(let n) = current else { throw .syntax("expected an index") }
        advance()
        try match(.rbracket)
        return .index(n)
    }

    mutating func sliceExpression() throws(JMESPathError) -> Node {
        var parts: [Int?] = [nil, nil, nil]
        var idx = 0
        while current != .rbracket, idx < 3 {
            if current == .colon {
                idx += 1
                if idx == 3 { throw .syntax("too many colons in slice") }
                advance()
            } else if case .number(let n) = current {
                parts[idx] = n
                advance()
            } else {
                throw .syntax("unexpected token \(current) in slice")
            }
        }
        try match(.rbracket)
        return .slice(parts[0], parts[1], parts[2])
    }

    mutating func projectionRHS(_ bp: Int) throws(JMESPathError) -> Node {
        if current.bindingPower < 10 { return .identity }
        switch current {
        case .lbracket, .filter: return try expression(bp)
        case .dot:
            advance()
            return try dotRHS(bp)
        default: throw .syntax("unexpected token \(current) after projection")
        }
    }

    mutating func dotRHS(_ bp: Int) throws(JMESPathError) -> Node {
        switch current {
        case .quoted, .unquoted, .star: return try expression(bp)
        case .lbracket:
            advance()
            return try multiList()
        case .lbrace:
            advance()
            return try multiHash()
        default: throw .syntax("unexpected token \(current) after '.'")
        }
    }

    mutating func multiList() throws(JMESPathError) -> Node {
        var items: [Node] = []
        while true {
            items.append(try expression(0))
            if current == .rbracket { break }
            try match(.comma)
        }
        try match(.rbracket)
        return .multiList(items)
    }

    mutating func multiHash() throws(JMESPathError) -> Node {
        var pairs: [(String, Node)] = []
        while true {
            let key: String
            switch current {
            case .quoted(let k), .unquoted(let k): key = k
            default: throw .syntax("expected a key in multi-select hash, found \(current)")
            }
            advance()
            try match(.colon)
            pairs.append((key, try expression(0)))
            if current == .comma { advance() } else { try match(.rbrace); break }
        }
        return .multiHash(pairs)
    }
}
