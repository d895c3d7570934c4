import Foundation
import KMSModel
@testable import KMSCore
import Synchronization
import Testing

/// Every change to a key is a serialized read-modify-write: concurrent
/// changes of other fields never undo an acknowledged one (issue #12).
@Suite("Concurrent changes of one key")
struct ConcurrentChangeTests {
    @Test("a flood of TagResource never undoes DisableKey, EnableKey, PutKeyPolicy or a rotation")
    func floodLosesNothing() async throws {
        // Long waits: under the whole suite the 2-thread pool is shared with blocking tests.
        try await withEngine(.wrapped, configure: { $0.changeTimeout = .seconds(600) }) { f in
            let key = try await f.createKey().keyId
            let stop = Shared(false)
            let tagged = Shared(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var n = 0
                        while !stop.value {
                            n += 1
                            _ = try await f.engine.tagResource(
                                TagResourceRequest(keyId: key, tags: [Tag(tagKey: "w\(worker)", tagValue: "\(n)")]), caller: f.caller)
                            tagged.change { $0 += 1 }
                        }
                    }
                }
                defer { stop.change { $0 = true } }
                for round in 0..<40 {
                    _ = try await f.engine.disableKey(KeyIdRequest(keyId: key), caller: f.caller)
                    await Task.yield()
                    #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key), caller: f.caller).keyMetadata.keyState == .disabled,
                            "round \(round)")
                    _ = try await f.engine.enableKey(KeyIdRequest(keyId: key), caller: f.caller)
                    let policy = KMSEngine.defaultPolicy(creator: f.caller).replacingOccurrences(of: "p11kms-default", with: "round-\(round)")
                    _ = try await f.engine.putKeyPolicy(PutKeyPolicyRequest(keyId: key, policy: policy), caller: f.caller)
                    await Task.yield()
                    #expect(try await f.engine.getKeyPolicy(GetKeyPolicyRequest(keyId: key), caller: f.caller).policy == policy,
                            "round \(round)")
                    _ = try await f.engine.rotateKeyOnDemand(KeyIdRequest(keyId: key), caller: f.caller)
                    #expect(try await f.engine.describeKey(KeyIdRequest(keyId: key), caller: f.caller).keyMetadata.keyState == .enabled)
                }
                stop.change { $0 = true }
                try await group.waitForAll()
            }
            #expect(tagged.value > 0)
            // Memory and the durable store agree, row for row.
            let stored = try #require(try await f.store.key(id: key))
            let held = try #require(try await f.engine.store.key(id: key))
            #expect(stored.state == held.state && stored.policy == held.policy && stored.tags == held.tags
                    && stored.currentVersion == held.currentVersion)
            #expect(held.currentVersion == 41, "one version per acknowledged rotation")
            #expect(Set(held.tags.map(\.tagKey)) == Set((0..<8).map { "w\($0)" }), "every worker's last tag is kept")
        }
    }
}

/// A value tasks share (a `Mutex` itself cannot be captured by an escaping closure).
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func change(_ body: (inout Value) -> Void) { mutex.withLock { body(&$0) } }
}
