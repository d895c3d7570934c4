/// The error kinds of the JMESPath specification's compliance suite.
public enum JMESPathError: Error, Sendable, Equatable, CustomStringConvertible {
    case syntax(String)
    case invalidType(String)
    case invalidValue(String)
    case invalidArity(String)
    case unknownFunction(String)

    /// The compliance suite's name for the kind ("syntax", "invalid-type", ...).
    public var kind: String {
        switch self {
        case .syntax: "syntax"
        case .invalidType: "invalid-type"
        case .invalidValue: "invalid-value"
        case .invalidArity: "invalid-arity"
        case .unknownFunction: "unknown-function"
        }
    }

    public var description: String {
        switch self {
        case .syntax(let m), .invalidType(let m), .invalidValue(let m), .invalidArity(let m), .unknownFunction(let m):
            "\(kind) error: \(m)"
        }
    }
}
