import Foundation
import Testing
@testable import JMESPath

/// Every case of Resources/reference-cases.json (compliance-suite format):
/// the result, or the error kind, that the reference implementation gives.
struct ReferenceCaseTests {
    static let cases = CaseFileCase.load(Bundle.module.url(forResource: "reference-cases", withExtension: "json")!)

    @Test func loadedAllCases() { #expect(Self.cases.count == 122) }

    @Test(arguments: cases)
    func referenceCase(_ c: CaseFileCase) { c.check() }
}
