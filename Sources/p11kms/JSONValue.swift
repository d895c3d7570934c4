import Foundation

/// A small JSON tree for `--json` output with stable key order.
enum JSONValue: Equatable {
    case string(String), int(Int), bool(Bool), array([JSONValue]), object([String: JSONValue])

    var rendered: String {
        let data = try! JSONSerialization.data(withJSONObject: foundation, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    var text: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .bool(let b): String(b)
        default: rendered
        }
    }

    private var foundation: Any {
        switch self {
        case .string(let s): s
        case .int(let i): i
        case .bool(let b): b
        case .array(let a): a.map(\.foundation)
        case .object(let o): o.mapValues(\.foundation)
        }
    }
}
