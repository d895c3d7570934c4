import Foundation
import Testing
@testable import JMESPath

/// A file in the compliance suite's format: groups of a `given` document
/// and cases, each an expression with its `result` or `error` kind.
struct CaseFileCase: CustomTestStringConvertible, Sendable {
    let name: String
    let given: JMESValue
    let expression: String
    let result: JMESValue?
    let error: String?
    var testDescription: String { name.isEmpty ? expression : "\(name): \(expression)" }

    /// The cases of the file at `url`; a benchmark-only case (neither result nor error) is left out.
    static func load(_ url: URL, name: String = "") -> [CaseFileCase] {
        let text = String(decoding: try! Data(contentsOf: url), as: UTF8.self)
        guard case .array(let groups) = try! JMESValue.parse(json: text) else { return [] }
        var out: [CaseFileCase] = []
        for case .object(let g) in groups {
            guard case .array(let cs)? = g["cases"] else { continue }
            for case .object(let c) in cs {
                guard case .string(let e)? = c["expression"] else { continue }
                var err: String?
                if case .string(let k)? = c["error"] { err = k }
                guard c["result"] != nil || err != nil else { continue }
                out.append(CaseFileCase(name: name, given: g["given"] ?? .null, expression: e, result: c["result"], error: err))
            }
        }
        return out
    }

    /// Runs the case: its result, or its error kind.
    func check() {
        do {
            let got = try JMESPath(expression).search(given)
            #expect(error == nil, "expected \(error ?? "") error, got \(got.json)")
            if let want = result { #expect(got == want, "got \(got.json), want \(want.json)") }
        } catch {
            #expect(error.kind == self.error, "got \(error)")
        }
    }
}
