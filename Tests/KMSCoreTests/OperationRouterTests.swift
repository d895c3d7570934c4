import Foundation
@testable import KMSCore
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
        #expect(KMSOperation.allCases.count == 44)
    }

    @Test("a missing, unknown or unprefixed target is an UnknownOperationException",
          arguments: [nil, "", "TrentService.", "TrentService.Nope", "TrentService.encrypt", "Encrypt",
                      "KMS.Encrypt", "trentservice.Encrypt", " TrentService.Encrypt", "TrentService.Encrypt "] as [String?])
    func unknownTargets(_ target: String?) {
        #expect(refusal(target)?.name == .unknownOperation)
    }

    @Test("an unknown target's message is bounded")
    func longTarget() {
        let e = refusal(String(repeating: "x", count: 10_000))
        #expect(e?.name == .unknownOperation)
        #expect((e?.message.count ?? 0) < 400)
    }

    private func refusal(_ target: String?) -> KMSError? {
        do {
            let op = try router.operation(target: target)
            Issue.record("\(target ?? "nil") was routed to \(op)")
            return nil
        } catch {
            return error as? KMSError
        }
    }
}
