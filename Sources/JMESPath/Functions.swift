import Foundation

/// The specification's built-in functions, with its argument type checks.
enum Functions {
    enum Arg { case value(JMESValue), expref(Node) }
    enum Kind: Equatable { case any, number, string, boolean, array, object, null, expref, arrayNumber, arrayString }

    struct Signature {
        let params: [[Kind]]
        let variadic: Bool
        init(_ params: [[Kind]], variadic: Bool = false) { self.params = params; self.variadic = variadic }
    }

    static let signatures: [String: Signature] = [
        "abs": .init([[.number]]),
        "avg": .init([[.arrayNumber]]),
        "ceil": .init([[.number]]),
        "contains": .init([[.array, .string], [.any]]),
        "ends_with": .init([[.string], [.string]]),
        "floor": .init([[.number]]),
        "join": .init([[.string], [.arrayString]]),
        "keys": .init([[.object]]),
        "length": .init([[.string, .array, .object]]),
        "map": .init([[.expref], [.array]]),
        "max": .init([[.arrayNumber, .arrayString]]),
        "max_by": .init([[.array], [.expref]]),
        "merge": .init([[.object]], variadic: true),
        "min": .init([[.arrayNumber, .arrayString]]),
        "min_by": .init([[.array], [.expref]]),
        "not_null": .init([[.any]], variadic: true),
        "reverse": .init([[.string, .array]]),
        "sort": .init([[.arrayNumber, .arrayString]]),
        "sort_by": .init([[.array], [.expref]]),
        "starts_with": .init([[.string], [.string]]),
        "sum": .init([[.arrayNumber]]),
        "to_array": .init([[.any]]),
        "to_number": .init([[.any]]),
        "to_string": .init([[.any]]),
        "type": .init([[.any]]),
        "values": .init([[.object]]),
    ]

    static func matches(_ a: Arg, _ kinds: [Kind]) -> Bool {
        kinds.contains { k in
            switch (k, a) {
            case (.expref, .expref): true
            case (_, .expref): false
            case (.expref, _): false
            case (.any, _): true
            case (let k, .value(let v)):
                switch (k, v) {
                case (.number, .number), (.string, .string), (.boolean, .bool), (.array, .array), (.object, .object), (.null, .null): true
                case (.arrayNumber, .array(let xs)): xs.allSatisfy { if case .number = $0 { true } else { false } }
                case (.arrayString, .array(let xs)): xs.allSatisfy { if case .string = $0 { true } else { false } }
                default: false
                }
            }
        }
    }

    static func call(_ name: String, _ nodes: [Node], _ current: JMESValue) throws(JMESPathError) -> JMESValue {
        guard let sig = signatures[name] else { throw .unknownFunction("unknown function \(name)()") }
        if sig.variadic ? nodes.count < sig.params.count : nodes.count != sig.params.count {
            throw .invalidArity("\(name)() takes \(sig.variadic ? "at least " : "")\(sig.params.count) argument(s), got \(nodes.count)")
        }
        var args: [Arg] = []
        for n in nodes {
            if case .expref(let e) = n { args.append(.expref(e)) } else { args.append(.value(try Interpreter.eval(n, current))) }
        }
        for (i, a) in args.enumerated() {
            let kinds = i < sig.params.count ? sig.params[i] : sig.params.last!
            guard matches(a, kinds) else { throw .invalidType("invalid type for argument \(i + 1) of \(name)()") }
        }
        var vals: [JMESValue] = []
        for a in args { if case .value(let v) = a { vals.append(v) } }
        func expref(_ i: Int) -> Node { if case .expref(let e) = args[i] { return e }; return .identity }

        switch name {
        case "abs": return .number(abs(num(vals[0])))
        case "avg":
            let xs = nums(vals[0])
            return xs.isEmpty ? .null : .number(xs.reduce(0, +) / Double(xs.count))
        case "ceil": return .number(num(vals[0]).rounded(.up))
        case "floor": return .number(num(vals[0]).rounded(.down))
        case "contains":
            switch vals[0] {
            case .array(let xs): return .bool(xs.contains(vals[1]))
            case .string(let s):
                guard case .string(let t) = vals[1] else { return .bool(false) }
                return .bool(t.isEmpty || s.contains(t))
            default: return .bool(false)
            }
        case "ends_with": return .bool(scalars(str(vals[0])).hasSuffix(scalars(str(vals[1]))))
        case "starts_with": return .bool(scalars(str(vals[0])).hasPrefix(scalars(str(vals[1]))))
        case "join": return .string(strs(vals[1]).joined(separator: str(vals[0])))
        case "keys":
            guard case .object(let o) = vals[0] else { return .null }
            return .array(o.keys.map(JMESValue.string))
        case "values":
            guard case .object(let o) = vals[0] else { return .null }
            return .array(o.orderedValues)
        case "length":
            switch vals[0] {
            case .string(let s): return .number(Double(s.unicodeScalars.count))
            case .array(let a): return .number(Double(a.count))
            case .object(let o): return .number(Double(o.keys.count))
            default: return .null
            }
        case "map":
            guard case .array(let xs) = vals[0] else { return .null }
            let e = expref(0)
            return .array(try xs.map { x throws(JMESPathError) in try Interpreter.eval(e, x) })
        case "max", "min":
            guard case .array(let xs) = vals[0], !xs.isEmpty else { return .null }
            let sorted = try sortValues(xs)
            return name == "max" ? sorted.last! : sorted.first!
        case "max_by", "min_by", "sort_by":
            guard case .array(let xs) = vals[0] else { return .null }
            if xs.isEmpty { return name == "sort_by" ? .array([]) : .null }
            let e = expref(1)
            var keyed: [(JMESValue, Int, JMESValue)] = []
            for (i, x) in xs.enumerated() { keyed.append((try Interpreter.eval(e, x), i, x)) }
            let keys = keyed.map(\.0)
            let allNum = keys.allSatisfy { if case .number = $0 { true } else { false } }
            let allStr = keys.allSatisfy { if case .string = $0 { true } else { false } }
            guard allNum || allStr else { throw .invalidType("\(name)() expression must give all numbers or all strings") }
            // Stable: ties keep input order.
            keyed.sort { a, b in
                let lt = less(a.0, b.0), gt = less(b.0, a.0)
                return lt || (!gt && a.1 < b.1)
            }
            switch name {
            case "sort_by": return .array(keyed.map(\.2))
            case "max_by": return keyed.last!.2
            default: return keyed.first!.2
            }
        case "merge":
            var o = JMESObject()
            for v in vals { if case .object(let x) = v { for k in x.keys { o[k] = x[k] } } }
            return .object(o)
        case "not_null": return vals.first { $0 != .null } ?? .null
        case "reverse":
            switch vals[0] {
            case .string(let s): return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed())))
            case .array(let a): return .array(a.reversed())
            default: return .null
            }
        case "sort":
            guard case .array(let xs) = vals[0] else { return .null }
            return .array(try sortValues(xs))
        case "sum": return .number(nums(vals[0]).reduce(0, +))
        case "to_array":
            if case .array = vals[0] { return vals[0] }
            return .array([vals[0]])
        case "to_number":
            switch vals[0] {
            case .number: return vals[0]
            case .string(let s):
                guard let d = Double(s), d.isFinite, !s.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }) else { return .null }
                return .number(d)
            default: return .null
            }
        case "to_string":
            if case .string = vals[0] { return vals[0] }
            return .string(vals[0].json)
        case "type": return .string(vals[0].typeName)
        default: throw .unknownFunction("unknown function \(name)()")
        }
    }

    static func num(_ v: JMESValue) -> Double { if case .number(let d) = v { return d }; return 0 }
    static func str(_ v: JMESValue) -> String { if case .string(let s) = v { return s }; return "" }
    static func nums(_ v: JMESValue) -> [Double] { if case .array(let a) = v { return a.map(num) }; return [] }
    static func strs(_ v: JMESValue) -> [String] { if case .array(let a) = v { return a.map(str) }; return [] }
    static func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

    /// Numbers by value, strings by code point, as the specification orders them.
    static func less(_ a: JMESValue, _ b: JMESValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x < y
        case (.string(let x), .string(let y)): scalars(x).lexicographicallyPrecedes(scalars(y))
        default: false
        }
    }

    static func sortValues(_ xs: [JMESValue]) throws(JMESPathError) -> [JMESValue] {
        xs.enumerated().sorted { a, b in
            less(a.element, b.element) || (!less(b.element, a.element) && a.offset < b.offset)
        }.map(\.element)
    }
}

extension Array where Element == UInt32 {
    func hasPrefix(_ p: [UInt32]) -> Bool { count >= p.count && Array(self[0..<p.count]) == p }
    func hasSuffix(_ p: [UInt32]) -> Bool { count >= p.count && Array(self[(count - p.count)...]) == p }
}
