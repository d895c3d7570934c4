@testable import KMSServer
import KMSModel
import Testing

@Suite("Operation router")
struct OperationRouterTests {
    let router = OperationRouter()

    @Test("every operation has a route named TrentService.<Operation>")
    func everyOperationRoutes() throws {
        for op in KMSOperation.allCases {
            #expect(try router.operation(target: "TrentService.\(op.rawValue)") == op)
        }
        #expect(KMSOperation.allCases.count == 39)
    }

    @Test("a missing, unknown or unprefixed target is an UnknownOperationException",
          arguments: [nil, "", "TrentService.", "TrentService.Nope", "TrentService.encrypt", "Encrypt",
                      "KMS.Encrypt", "trentservice.Encrypt", " TrentService.Encrypt", "TrentService.Encrypt "] as [String?])
    func unknownTargets(_ target: String?) {
        expectKMSError(.unknownOperation) { try router.operation(target: target) }
    }

    @Test("an unknown target's message is bounded")
    func longTarget() {
        let e = expectKMSError(.unknownOperation) { try router.operation(target: String(repeating: "x", count: 10_000)) }
        #expect((e?.message.count ?? 0) < 400)
    }
}
