import Foundation
@testable import KMSCore
import KMSModel
import Testing

@Suite("Aliases, tags and key policies")
struct AliasTagPolicyTests {
    @Test(arguments: KeyStorageMode.allCases)
    func aliases(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let a = try await f.createKey()
            let b = try await f.createKey()
            let ec = try await f.createKey(.eccNistP256)
            _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/app/prod", targetKeyId: a.keyId), caller: f.caller)
            let blob = try await f.encrypt("alias/app/prod", "via alias")
            #expect(try await f.decrypt(blob) == "via alias")

            await expectKMSError(.alreadyExists) {
                try await f.engine.createAlias(AliasRequest(aliasName: "alias/app/prod", targetKeyId: b.keyId), caller: f.caller)
            }
            // Too long is a member-length ValidationException, as AWS's model has it.
            await expectKMSError(.validation) {
                try await f.engine.createAlias(AliasRequest(aliasName: "alias/" + String(repeating: "a", count: 251), targetKeyId: b.keyId),
                                               caller: f.caller)
            }
            // AWS's answers: no `alias/` prefix or a character outside the model's
            // pattern is ValidationException; the reserved prefix NotAuthorizedException.
            let answers: [(String, KMSError.Name)] = [
                ("app", .validation), ("aliases/app", .validation), ("alias/has space", .validation),
                ("alias/", .invalidAliasName), ("alias/x:y", .invalidAliasName),
                ("alias/aws/reserved", .notAuthorized),
            ]
            for (bad, name) in answers {
                await expectKMSError(name, "\(bad)") {
                    try await f.engine.createAlias(AliasRequest(aliasName: bad, targetKeyId: b.keyId), caller: f.caller)
                }
            }
            await expectKMSError(.notFound) {
                try await f.engine.createAlias(AliasRequest(aliasName: "alias/x", targetKeyId: UUID().uuidString.lowercased()), caller: f.caller)
            }

            _ = try await f.engine.updateAlias(AliasRequest(aliasName: "alias/app/prod", targetKeyId: b.keyId), caller: f.caller)
            #expect(try await f.engine.describeKey(KeyIdRequest(keyId: "alias/app/prod"), caller: f.caller).keyMetadata.keyId == b.keyId)
            // An alias does not move to a key of another spec or usage.
            await expectKMSError(.validation) {
                try await f.engine.updateAlias(AliasRequest(aliasName: "alias/app/prod", targetKeyId: ec.keyId), caller: f.caller)
            }
            await expectKMSError(.notFound) {
                try await f.engine.updateAlias(AliasRequest(aliasName: "alias/none", targetKeyId: b.keyId), caller: f.caller)
            }

            for i in 0..<5 {
                _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/a\(i)", targetKeyId: a.keyId), caller: f.caller)
            }
            let forA = try await f.engine.listAliases(ListAliasesRequest(keyId: a.keyId), caller: f.caller)
            #expect(forA.aliases.map(\.aliasName) == (0..<5).map { "alias/a\($0)" })
            #expect(forA.aliases.allSatisfy { $0.targetKeyId == a.keyId && $0.aliasArn.hasSuffix($0.aliasName) })
            var names: [String] = []
            var marker: String?
            repeat {
                let page = try await f.engine.listAliases(ListAliasesRequest(limit: 2, marker: marker), caller: f.caller)
                names += page.aliases.map(\.aliasName)
                marker = page.nextMarker
            } while marker != nil
            #expect(names.count == 6 && names.contains("alias/app/prod"))

            _ = try await f.engine.deleteAlias(AliasRequest(aliasName: "alias/app/prod"), caller: f.caller)
            await expectKMSError(.notFound) { try await f.engine.deleteAlias(AliasRequest(aliasName: "alias/app/prod"), caller: f.caller) }
            await expectKMSError(.notFound) { try await f.encrypt("alias/app/prod", "gone") }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func tags(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            _ = try await f.engine.tagResource(TagResourceRequest(keyId: key.keyId, tags: [
                Tag(tagKey: "team", tagValue: "payments"), Tag(tagKey: "env", tagValue: "prod"),
            ]), caller: f.caller)
            _ = try await f.engine.tagResource(TagResourceRequest(keyId: key.keyId, tags: [Tag(tagKey: "env", tagValue: "staging")]),
                                               caller: f.caller)
            let listed = try await f.engine.listResourceTags(ListResourceTagsRequest(keyId: key.keyId), caller: f.caller)
            #expect(listed.tags == [Tag(tagKey: "team", tagValue: "payments"), Tag(tagKey: "env", tagValue: "staging")])
            let page = try await f.engine.listResourceTags(ListResourceTagsRequest(keyId: key.keyId, limit: 1), caller: f.caller)
            #expect(page.tags.count == 1 && page.truncated)
            let next = try await f.engine.listResourceTags(ListResourceTagsRequest(keyId: key.keyId, marker: page.nextMarker), caller: f.caller)
            #expect(next.tags == [Tag(tagKey: "env", tagValue: "staging")] && !next.truncated)
            _ = try await f.engine.untagResource(UntagResourceRequest(keyId: key.keyId, tagKeys: ["team"]), caller: f.caller)
            #expect(try await f.engine.listResourceTags(ListResourceTagsRequest(keyId: key.keyId), caller: f.caller).tags.count == 1)
            await expectKMSError(.tag) {
                try await f.engine.tagResource(TagResourceRequest(keyId: key.keyId, tags: [Tag(tagKey: "aws:owner", tagValue: "x")]),
                                               caller: f.caller)
            }
            await expectKMSError(.tag) {
                try await f.engine.tagResource(TagResourceRequest(keyId: key.keyId, tags: [Tag(tagKey: "", tagValue: "x")]), caller: f.caller)
            }
            let many = (0..<50).map { Tag(tagKey: "k\($0)", tagValue: "v") }
            await expectKMSError(.limitExceeded) { try await f.engine.tagResource(TagResourceRequest(keyId: key.keyId, tags: many), caller: f.caller) }
            await expectKMSError(.validation) { try await f.engine.tagResource(TagResourceRequest(keyId: key.keyId, tags: nil), caller: f.caller) }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func policies(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.createKey()
            let onlyRoot = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Unix":{"Uid":[0]}},"Action":"kms:*"}]}"#
            // The lockout safety check: a policy that would shut the caller out is refused...
            await expectKMSError(.malformedPolicyDocument) {
                try await f.engine.putKeyPolicy(PutKeyPolicyRequest(keyId: key.keyId, policy: onlyRoot), caller: f.caller)
            }
            let policy = #"{"Version":"2012-10-17","Statement":[{"Sid":"me","Effect":"Allow","Principal":{"Unix":{"Uid":[1000]}},"Action":"kms:*"}]}"#
            _ = try await f.engine.putKeyPolicy(PutKeyPolicyRequest(keyId: key.keyId, policy: policy), caller: f.caller)
            #expect(try await f.engine.getKeyPolicy(GetKeyPolicyRequest(keyId: key.keyId), caller: f.caller).policy == policy)
            #expect(try await f.engine.listKeyPolicies(ListResourceTagsRequest(keyId: key.keyId), caller: f.caller).policyNames == ["default"])
            for bad in ["", "[]", "{}", "{\"Statement\": [}", "{\"Statement\":[]}\u{1}"] {
                await expectKMSError(bad.isEmpty ? .validation : .malformedPolicyDocument, "\(bad)") {
                    try await f.engine.putKeyPolicy(PutKeyPolicyRequest(keyId: key.keyId, policy: bad), caller: f.caller)
                }
            }
            await expectKMSError(.notFound) {
                try await f.engine.getKeyPolicy(GetKeyPolicyRequest(keyId: key.keyId, policyName: "other"), caller: f.caller)
            }
            // ...unless the caller insists, after which it is shut out indeed.
            _ = try await f.engine.putKeyPolicy(PutKeyPolicyRequest(keyId: key.keyId, policy: onlyRoot,
                                                                    bypassPolicyLockoutSafetyCheck: true), caller: f.caller)
            await expectKMSError(.accessDenied) {
                try await f.engine.getKeyPolicy(GetKeyPolicyRequest(keyId: key.keyId), caller: f.caller)
            }
            await expectKMSError(.accessDenied) { try await f.encrypt(key.keyId, "x") }
        }
    }
}
