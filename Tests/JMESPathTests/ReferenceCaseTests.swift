import Foundation
import Testing
@testable import JMESPath

/// Every case of Resources/reference-cases.json (compliance-suite format):
/// the result, or the error kind, that the reference implementation gives.
struct ReferenceCaseTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let given: JMESValue
        let expression: String
        let result: JMESValue?
        let error: String?
        var testDescription: String { expression }
    }

    static let cases: [Case] = {
        let url = Bundle.module.url(forResource: "reference-cases", withExtension: "json")!
        let text = String(decoding: try! Data(contentsOf: url), as: UTF8.self)
        guard case .array(let groups) = try! JMESValue.parse(json: text) else { return [] }
        var out: [Case] = []
        for case .object(let g) in groups {
            guard case .array(let cs)? = g["cases"] else { continue }
            for case .object(let c) in cs {
                guard case .string(let e)? = c["expression"] else { continue }
                var err: String?
                if case .string(let k)? = c["error"] { err = k }
                out.append(Case(given: g["given"] ?? .null, expression: e, result: c["result"], error: err))
            }
        }
        return out
    }()

    @Test func loadedAllCases() { #expect(Self.cases.count == 122) }

    @Test(arguments: cases)
    func referenceCase(_ c: Case) {
        do {
            let got = try JMESPath(c.expression).search(c.given)
            #expect(c.error == nil, "expected \(c.error ?? "") error, got \(got.json)")
            if let want = c.result { #expect(got == want, "got \(got.json), want \(want.json)") }
        } catch {
            #expect(error.kind == c.error, "got \(error)")
        }
    }
}
