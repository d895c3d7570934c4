import Foundation
import Testing

/// The JMESPath specification's compliance suite (the jmespath.test files,
/// as shipped in Debian's source package of go-jmespath 0.4.0; see
/// Resources/README.md): every case, its result or its error kind.
struct ComplianceTests {
    static let files = ["basic", "boolean", "current", "escape", "filters", "functions", "identifiers", "indices",
                        "literal", "multiselect", "ormatch", "pipe", "slice", "syntax", "unicode", "wildcard"]

    static let cases: [CaseFileCase] = files.flatMap { file in
        CaseFileCase.load(Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "compliance")!, name: file)
    }

    @Test func everyFileIsRead() { #expect(Self.cases.count == 862, "\(Self.cases.count)") }

    @Test(arguments: cases)
    func complianceCase(_ c: CaseFileCase) { c.check() }
}
