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
        #expect(KMSOperation.allCases.count == 54, "every operation of botocore's KMS model")
    }

    @Test("an operation this service does not perform is refused with a reason, not as unknown",
          arguments: [KMSOperation.replicateKey, .updatePrimaryRegion])
    func refusedOperations(_ op: KMSOperation) async throws {
        let error = await refusal(of: op, body: "{}")
        #expect(error?.name == .unsupportedOperation)
        #expect((error?.message.count ?? 0) > 40, "says why: \(error?.message ?? "")")
        #expect(await refusal(of: op, body: "[1]")?.name == .serialization, "the body is still checked")
    }

    @Test func replicationIsRefusedForItsReason() async throws {
        let replicate = await refusal(of: .replicateKey, body: #"{"KeyId":"k","ReplicaRegion":"eu-west-1"}"#)
        #expect(replicate?.message.contains("one region") == true)
    }

    @Test("the README's table lists all 54 operations, each with the status the router gives it")
    func readmeTable() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        var rows: [String: String] = [:]
        for line in try String(contentsOf: readme, encoding: .utf8).split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, let op = KMSOperation(rawValue: cells[0].trimmingCharacters(in: ["`"])) else { continue }
            #expect(rows[op.rawValue] == nil, "\(op) listed twice")
            rows[op.rawValue] = cells[1]
        }
        #expect(rows.count == 54)
        for op in KMSOperation.allCases {
            #expect(rows[op.rawValue] == (Refusals.refuses(op) ? "refused" : "served"), "\(op.rawValue)")
        }
    }

    /// The refusal of `op`; a refused operation never reaches the engine.
    private func refusal(of op: KMSOperation, body: String) async -> KMSError? {
        #expect(Refusals.refuses(op))
        do {
            try Refusals.refuse(op, body: Data(body.utf8))
        } catch {
            return error as? KMSError
        }
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
