/// A compiled JMESPath expression.
public struct JMESPath: Sendable {
    let root: Node

    public init(_ expression: String) throws(JMESPathError) {
        root = try Parser.parse(expression)
    }

    public func search(_ data: JMESValue) throws(JMESPathError) -> JMESValue {
        try Interpreter.eval(root, data)
    }
}

enum Interpreter {
    static func eval(_ node: Node, _ v: JMESValue) throws(JMESPathError) -> JMESValue {
        switch node {
        case .identity, .current: return v
        case .field(let name):
            if case .object(let o) = v { return o[name] ?? .null }
            return .null
        case .subexpression(let l, let r): return try eval(r, eval(l, v))
        case .index(let n):
            guard case .array(let a) = v else { return .null }
            let i = n < 0 ? a.count + n : n
            return a.indices.contains(i) ? a[i] : .null
        case .slice(let start, let stop, let step):
            guard case .array(let a) = v else { return .null }
            return .array(try slice(a, start, stop, step))
        case .indexExpression(let l, let r): return try eval(r, eval(l, v))
        case .projection(let l, let r):
            guard case .array(let a) = try eval(l, v) else { return .null }
            return .array(try projectEach(a, r))
        case .valueProjection(let l, let r):
            guard case .object(let o) = try eval(l, v) else { return .null }
            return .array(try projectEach(o.orderedValues, r))
        case .filterProjection(let l, let r, let cond):
            guard case .array(let a) = try eval(l, v) else { return .null }
            var out: [JMESValue] = []
            for x in a where try eval(cond, x).isTruthy {
                if let y = nonNull(try eval(r, x)) { out.append(y) }
            }
            return .array(out)
        case .flatten(let inner):
            guard case .array(let a) = try eval(inner, v) else { return .null }
            var out: [JMESValue] = []
            for x in a { if case .array(let sub) = x { out += sub } else { out.append(x) } }
            return .array(out)
        case .comparator(let op, let l, let r):
            return compare(op, try eval(l, v), try eval(r, v))
        case .or(let l, let r):
            let x = try eval(l, v)
            return x.isTruthy ? x : try eval(r, v)
        case .and(let l, let r):
            let x = try eval(l, v)
            return x.isTruthy ? try eval(r, v) : x
        case .not(let e): return .bool(!(try eval(e, v).isTruthy))
        case .pipe(let l, let r): return try eval(r, eval(l, v))
        case .literal(let x): return x
        case .multiList(let items):
            if v == .null { return .null }
            return .array(try items.map { n throws(JMESPathError) in try eval(n, v) })
        case .multiHash(let pairs):
            if v == .null { return .null }
            var o = JMESObject()
            for (k, n) in pairs { o[k] = try eval(n, v) }
            return .object(o)
        case .function(let name, let args): return try Functions.call(name, args, v)
        case .expref: throw .invalidType("an expression reference (&) is only valid as a function argument")
        }
    }

    /// A projection's right side over each element; nulls drop out.
    static func projectEach(_ xs: [JMESValue], _ r: Node) throws(JMESPathError) -> [JMESValue] {
        var out: [JMESValue] = []
        for x in xs { if let y = nonNull(try eval(r, x)) { out.append(y) } }
        return out
    }

    static func nonNull(_ v: JMESValue) -> JMESValue? { v == .null ? nil : v }

    static func compare(_ op: Token, _ a: JMESValue, _ b: JMESValue) -> JMESValue {
        switch op {
        case .eq: return .bool(a == b)
        case .ne: return .bool(a != b)
        default:
            // Numbers by value; strings by code point, as jmespath 1.1 orders them.
            let x: Double, y: Double
            switch (a, b) {
            case (.number(let l), .number(let r)): (x, y) = (l, r)
            case (.string, .string):
                (x, y) = Functions.less(a, b) ? (0, 1) : (Functions.less(b, a) ? (1, 0) : (0, 0))
            default: return .null
            }
            switch op {
            case .lt: return .bool(x < y)
            case .le: return .bool(x <= y)
            case .gt: return .bool(x > y)
            default: return .bool(x >= y)
            }
        }
    }

    /// Python slice semantics, as the specification defines them.
    static func slice<T>(_ a: [T], _ start: Int?, _ stop: Int?, _ step: Int?) throws(JMESPathError) -> [T] {
        let step = step ?? 1
        guard step != 0 else { throw .invalidValue("slice step cannot be 0") }
        let n = a.count
        func cap(_ x: Int?, _ dflt: Int) -> Int {
            guard var x else { return dflt }
            if x < 0 {
                x += n
                if x < 0 { x = step < 0 ? -1 : 0 }
            } else if x >= n {
                x = step < 0 ? n - 1 : n
            }
            return x
        }
        let s = cap(start, step < 0 ? n - 1 : 0)
        let e = cap(stop, step < 0 ? -1 : n)
        var out: [T] = []
        var i = s
        if step > 0 { while i < e { out.append(a[i]); i += step } }
        else { while i > e { out.append(a[i]); i += step } }
        return out
    }
}
