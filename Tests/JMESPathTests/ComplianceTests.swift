import Foundation
import Testing
@testable import JMESPath

/// The JMESPath specification's compliance suite (the jmespath.test files,
/// as shipped in Debian's source package of go-jmespath 0.4.0; see
/// Resources/README.md): every case, its result or its error kind.
struct ComplianceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let given: JMESValue
        let expression: String
        let result: JMESValue?
        let error: String?
        var testDescription: String { "\(file): \(expression)" }
    }

    static let files = ["basic", "boolean", "current", "escape", "filters", "functions", "identifiers", "indices",
                        "literal", "multiselect", "ormatch", "pipe", "slice", "syntax", "unicode", "wildcard"]

    static let cases: [Case] = {
        var out: [Case] = []
        for file in files {
            let url = Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "compliance")!
            let text = String(decoding: try! Data(contentsOf: url), as: UTF8.self)
            guard case .array(let groups) = try! JMESValue.parse(json: text) else { continue }
            for case .object(let g) in groups {
                guard case .array(let cs)? = g["cases"] else { continue }
                for case .object(let c) in cs {
                    guard case .string(let e)? = c["expression"] else { continue }
                    var err: String?
                    if case .string(let k)? = c["error"] { err = k }
                    // A benchmark-only case states neither a result nor an error.
                    guard c["result"] != nil || err != nil else { continue }
                    out.append(Case(file: file, given: g["given"] ?? .null, expression: e, result: c["result"], error: err))
                }
            }
        }
        return out
    }()

    @Test func everyFileIsRead() { #expect(Self.cases.count > 800, "\(Self.cases.count)") }

    @Test(arguments: cases)
    func complianceCase(_ c: Case) {
        do {
            let got = try JMESPath(c.expression).search(c.given)
            #expect(c.error == nil, "expected \(c.error ?? "") error, got \(got.json)")
            if let want = c.result { #expect(got == want, "got \(got.json), want \(want.json)") }
        } catch {
            #expect(error.kind == c.error, "got \(error)")
        }
    }
}
