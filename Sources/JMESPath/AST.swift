/// A parsed JMESPath expression.
indirect enum Node: Sendable, Equatable {
    case identity
    case current
    case field(String)
    case subexpression(Node, Node)
    case index(Int)
    case slice(Int?, Int?, Int?)
    case indexExpression(Node, Node)
    case projection(Node, Node)
    case valueProjection(Node, Node)
    case filterProjection(Node, Node, Node)
    case flatten(Node)
    case comparator(Token, Node, Node)
    case or(Node, Node)
    case and(Node, Node)
    case not(Node)
    case pipe(Node, Node)
    case literal(JMESValue)
    case multiList([Node])
    case multiHash([(String, Node)])
    case function(String, [Node])
    case expref(Node)

    static func == (a: Node, b: Node) -> Bool { String(describing: a) == String(describing: b) }
}
