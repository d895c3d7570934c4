import Foundation
@testable import KMSCore
import KMSModel
import Testing

/// Grants in the engine: who they let do what, their constraints, their
/// life (retire, revoke, deletion with the key) and their listings.
@Suite("Grants")
struct GrantTests {
    static let owner = Principal(uid: 1000, gid: 1000, userName: "tester")
    static let grantee = Principal(uid: 2001, gid: 2001, userName: "checkout", groupNames: ["checkout", "apps"])
    static let stranger = Principal(uid: 2003, gid: 2003, userName: "mallory")
    static let admin = Principal(uid: 0, gid: 0, userName: "root")

    func grant(_ f: EngineFixture, _ key: String, to grantee: String = "unix:uid:2001", _ ops: [GrantOperation],
               retiring: String? = nil, constraints: GrantConstraints? = nil, name: String? = nil) async throws -> CreateGrantResponse {
        try await f.engine.createGrant(CreateGrantRequest(keyId: key, granteePrincipal: grantee, operations: ops,
                                                          retiringPrincipal: retiring, constraints: constraints, name: name),
                                       caller: Self.owner)
    }

    func encrypt(_ f: EngineFixture, _ key: String, as caller: Principal, context: [String: String]? = nil,
                 tokens: [String]? = nil) async throws -> Data {
        var r = EncryptRequest(keyId: key, plaintext: Data("secret".utf8), encryptionContext: context)
        r.grantTokens = tokens
        return try await f.engine.encrypt(r, caller: caller).ciphertextBlob
    }

    func decrypt(_ f: EngineFixture, _ blob: Data, as caller: Principal, context: [String: String]? = nil) async throws -> Data {
        try await f.engine.decrypt(DecryptRequest(ciphertextBlob: blob, encryptionContext: context), caller: caller).plaintext
    }

    @Test func aGranteeMayUseExactlyTheGrantedOperations() async throws {
        try await withEngine(.wrapped) { f in
            let key = try await f.createKey().keyId
            await expectKMSError(.accessDenied, "no grant yet") { try await encrypt(f, key, as: Self.grantee) }
            let g = try await grant(f, key, [.encrypt, .describeKey])
            #expect(GrantToken.isGrantID(g.grantId))
            #expect(GrantToken.grantID(in: g.grantToken) == g.grantId)

            let blob = try await encrypt(f, key, as: Self.grantee)
            _ = try await f.engine.describeKey(KeyIdRequest(keyId: key), caller: Self.grantee)
            await expectKMSError(.accessDenied) { try await decrypt(f, blob, as: Self.grantee) }
            await expectKMSError(.accessDenied) {
                try await f.engine.generateDataKey(GenerateDataKeyRequest(keyId: key, keySpec: .aes256), caller: Self.grantee)
            }
            await expectKMSError(.accessDenied) { try await f.engine.disableKey(KeyIdRequest(keyId: key), caller: Self.grantee) }
            await expectKMSError(.accessDenied) {
                try await f.engine.listGrants(ListGrantsRequest(keyId: key), caller: Self.grantee)
            }
            await expectKMSError(.accessDenied, "someone else") { try await encrypt(f, key, as: Self.stranger) }
            #expect(try await decrypt(f, blob, as: Self.owner) == Data("secret".utf8))
        }
    }

    @Test(arguments: ["unix:user:checkout", "unix:group:apps", "unix:uid:2001"])
    func eachPrincipalFormNamesItsCaller(grantee: String) async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            _ = try await grant(f, key, to: grantee, [.encrypt])
            _ = try await encrypt(f, key, as: Self.grantee)
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.stranger) }
            let signer = Principal.accessKey(name: "checkout", id: "AKIDEXAMPLE", remoteAddress: nil)
            await expectKMSError(.accessDenied, "a Unix form never names an access key") { try await encrypt(f, key, as: signer) }
        }
    }

    @Test func anAccessKeyGranteeIsNamedByItsPrincipal() async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            _ = try await grant(f, key, to: "access_key:billing", [.encrypt])
            _ = try await encrypt(f, key, as: Principal.accessKey(name: "billing", id: "AKID1", remoteAddress: nil))
            await expectKMSError(.accessDenied) {
                try await encrypt(f, key, as: Principal.accessKey(name: "other", id: "AKID2", remoteAddress: nil))
            }
        }
    }

    @Test(arguments: ["uid:2001", "unix:uid:", "unix:uid:x", "unix:host:a", "unix:uid:4294967295", "access_key:", "", "*"])
    func malformedPrincipalsAreRefused(principal: String) async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            await expectKMSError(.validation) { try await grant(f, key, to: principal, [.encrypt]) }
        }
    }

    @Test func aConstraintHoldsForTheRightContextAndRefusesAnother() async throws {
        try await withEngine(.wrapped) { f in
            let key = try await f.createKey().keyId
            _ = try await grant(f, key, [.encrypt, .decrypt], constraints: GrantConstraints(encryptionContextSubset: ["tenant": "acme"]))
            let blob = try await encrypt(f, key, as: Self.grantee, context: ["tenant": "acme", "order": "7"])
            #expect(try await decrypt(f, blob, as: Self.grantee, context: ["tenant": "acme", "order": "7"]) == Data("secret".utf8))
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.grantee, context: ["tenant": "other"]) }
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.grantee) }

            let exact = try await f.createKey().keyId
            _ = try await grant(f, exact, [.encrypt], constraints: GrantConstraints(encryptionContextEquals: ["tenant": "acme"]))
            _ = try await encrypt(f, exact, as: Self.grantee, context: ["tenant": "acme"])
            await expectKMSError(.accessDenied) { try await encrypt(f, exact, as: Self.grantee, context: ["tenant": "acme", "x": "y"]) }
            await expectKMSError(.accessDenied) { try await encrypt(f, exact, as: Self.grantee, context: ["tenant": "ACME"]) }
        }
    }

    @Test func constraintsAndOperationsMustFitTheKey() async throws {
        try await withEngine(.token) { f in
            let symmetric = try await f.createKey().keyId
            let signing = try await f.createKey(.eccNistP256).keyId
            await expectKMSError(.validation) { try await grant(f, symmetric, [.sign]) }
            await expectKMSError(.validation) { try await grant(f, signing, [.encrypt]) }
            await expectKMSError(.validation) { try await grant(f, symmetric, []) }
            await expectKMSError(.validation) {
                try await grant(f, signing, [.sign], constraints: GrantConstraints(encryptionContextSubset: ["a": "b"]))
            }
            await expectKMSError(.validation, "both forms") {
                try await grant(f, symmetric, [.encrypt], constraints: GrantConstraints(encryptionContextSubset: ["a": "b"],
                                                                                         encryptionContextEquals: ["a": "b"]))
            }
            await expectKMSError(.validation, "a bad name") { try await grant(f, symmetric, [.encrypt], name: "no spaces") }
            _ = try await grant(f, signing, [.sign, .verify, .getPublicKey, .describeKey])
        }
    }

    @Test func aRetiredOrRevokedGrantStopsAtOnce() async throws {
        try await withEngine(.wrapped) { f in
            let key = try await f.createKey().keyId
            let retirable = try await grant(f, key, [.encrypt], retiring: "unix:user:mallory")
            _ = try await encrypt(f, key, as: Self.grantee)
            await expectKMSError(.accessDenied, "the grantee may not retire without RetireGrant") {
                try await f.engine.retireGrant(RetireGrantRequest(grantToken: retirable.grantToken), caller: Self.grantee)
            }
            _ = try await f.engine.retireGrant(RetireGrantRequest(grantToken: retirable.grantToken), caller: Self.stranger)
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.grantee) }
            await expectKMSError(.notFound) {
                try await f.engine.retireGrant(RetireGrantRequest(keyId: key, grantId: retirable.grantId), caller: Self.stranger)
            }

            let selfRetiring = try await grant(f, key, [.encrypt, .retireGrant])
            _ = try await f.engine.retireGrant(RetireGrantRequest(keyId: key, grantId: selfRetiring.grantId), caller: Self.grantee)
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.grantee) }

            let revocable = try await grant(f, key, [.encrypt])
            _ = try await encrypt(f, key, as: Self.grantee)
            await expectKMSError(.accessDenied) {
                try await f.engine.revokeGrant(RevokeGrantRequest(keyId: key, grantId: revocable.grantId), caller: Self.grantee)
            }
            _ = try await f.engine.revokeGrant(RevokeGrantRequest(keyId: key, grantId: revocable.grantId), caller: Self.owner)
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.grantee) }
            await expectKMSError(.notFound) {
                try await f.engine.revokeGrant(RevokeGrantRequest(keyId: key, grantId: revocable.grantId), caller: Self.owner)
            }
            await expectKMSError(.invalidGrantId) {
                try await f.engine.revokeGrant(RevokeGrantRequest(keyId: key, grantId: "not-a-grant"), caller: Self.owner)
            }
            #expect(try await f.engine.listGrants(ListGrantsRequest(keyId: key), caller: Self.owner).grants.isEmpty)
        }
    }

    @Test func aPolicyDenyBeatsAGrant() async throws {
        try await withEngine(.token) { f in
            let policy = """
                {"Version":"2012-10-17","Statement":[
                  {"Sid":"owner","Effect":"Allow","Principal":{"Unix":{"Uid":[1000]}},"Action":"kms:*"},
                  {"Sid":"never-checkout","Effect":"Deny","Principal":{"Unix":{"User":["checkout"]}},"Action":"kms:Encrypt"}]}
                """
            let key = try await f.engine.createKey(CreateKeyRequest(policy: policy), caller: Self.owner).keyMetadata.keyId
            _ = try await grant(f, key, [.encrypt, .describeKey])
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.grantee) }
            _ = try await f.engine.describeKey(KeyIdRequest(keyId: key), caller: Self.grantee)
        }
    }

    @Test func aGrantTokenWorksAtOnceAndForeignTokensAreRefused() async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            let g = try await grant(f, key, [.encrypt])
            // First thing after CreateGrant, before any listing.
            _ = try await encrypt(f, key, as: Self.grantee, tokens: [g.grantToken])
            await expectKMSError(.invalidGrantToken) { try await encrypt(f, key, as: Self.grantee, tokens: ["made-up"]) }
            await expectKMSError(.validation) {
                try await encrypt(f, key, as: Self.grantee, tokens: Array(repeating: g.grantToken, count: 11))
            }
            // A token gives nothing its grant does not.
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.stranger, tokens: [g.grantToken]) }
        }
    }

    @Test func aNameMakesCreateGrantIdempotent() async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            let first = try await grant(f, key, [.encrypt, .decrypt], name: "checkout-app")
            let retry = try await grant(f, key, [.decrypt, .encrypt], name: "checkout-app")
            #expect(retry.grantId == first.grantId)
            #expect(retry.grantToken != first.grantToken)
            let other = try await grant(f, key, [.encrypt], name: "checkout-app")
            #expect(other.grantId != first.grantId)
            let unnamed1 = try await grant(f, key, [.encrypt])
            let unnamed2 = try await grant(f, key, [.encrypt])
            #expect(unnamed1.grantId != unnamed2.grantId)
            let listed = try await f.engine.listGrants(ListGrantsRequest(keyId: key), caller: Self.owner).grants
            #expect(listed.count == 4)
            #expect(listed.first { $0.grantId == first.grantId }?.name == "checkout-app")
        }
    }

    @Test func listingsPage() async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try await grant(f, key, [.encrypt], retiring: "unix:uid:2003").grantId) }
            var seen: [String] = []
            var marker: String?
            var pages = 0
            repeat {
                let page = try await f.engine.listGrants(ListGrantsRequest(keyId: key, limit: 2, marker: marker), caller: Self.owner)
                #expect(page.grants.count <= 2)
                #expect(page.truncated == (page.nextMarker != nil))
                seen += page.grants.map(\.grantId)
                marker = page.nextMarker
                pages += 1
            } while marker != nil
            #expect(pages == 3)
            #expect(seen == ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })

            let retirable = try await f.engine.listRetirableGrants(ListRetirableGrantsRequest(retiringPrincipal: "unix:uid:2003", limit: 4),
                                                                   caller: Self.stranger)
            #expect(retirable.grants.count == 4 && retirable.truncated)
            let rest = try await f.engine.listRetirableGrants(
                ListRetirableGrantsRequest(retiringPrincipal: "unix:uid:2003", marker: retirable.nextMarker), caller: Self.stranger)
            #expect(rest.grants.count == 1 && !rest.truncated)
            await expectKMSError(.accessDenied, "only one's own") {
                try await f.engine.listRetirableGrants(ListRetirableGrantsRequest(retiringPrincipal: "unix:uid:2003"), caller: Self.grantee)
            }

            let one = try await f.engine.listGrants(ListGrantsRequest(keyId: key, grantId: ids[2]), caller: Self.owner)
            #expect(one.grants.map(\.grantId) == [ids[2]])
            let entry = try #require(one.grants.first)
            #expect(entry.keyId.hasSuffix(key) && entry.granteePrincipal == "unix:uid:2001" && entry.operations == [.encrypt])
            #expect(entry.retiringPrincipal == "unix:uid:2003" && entry.issuingAccount == "arn:aws:iam::000000000000:root")
            let byGrantee = try await f.engine.listGrants(ListGrantsRequest(keyId: key, granteePrincipal: "unix:uid:2001"),
                                                          caller: Self.owner)
            #expect(byGrantee.grants.count == 5)
            await expectKMSError(.invalidMarker) {
                try await f.engine.listGrants(ListGrantsRequest(keyId: key, marker: "garbage"), caller: Self.owner)
            }
            await expectKMSError(.validation) {
                try await f.engine.listGrants(ListGrantsRequest(keyId: key, limit: 101), caller: Self.owner)
            }
        }
    }

    @Test func aGrantMayPassOnOnlyWhatItHasAsStrictly() async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            _ = try await grant(f, key, [.createGrant, .encrypt, .decrypt],
                                constraints: GrantConstraints(encryptionContextSubset: ["tenant": "acme"]))
            func delegate(_ ops: [GrantOperation], _ c: GrantConstraints?) async throws -> CreateGrantResponse {
                try await f.engine.createGrant(CreateGrantRequest(keyId: key, granteePrincipal: "unix:uid:2003", operations: ops,
                                                                  constraints: c), caller: Self.grantee)
            }
            _ = try await delegate([.encrypt], GrantConstraints(encryptionContextSubset: ["tenant": "acme", "team": "a"]))
            _ = try await delegate([.decrypt], GrantConstraints(encryptionContextEquals: ["tenant": "acme"]))
            await expectKMSError(.accessDenied, "no constraint") { try await delegate([.encrypt], nil) }
            await expectKMSError(.accessDenied, "another tenant") {
                try await delegate([.encrypt], GrantConstraints(encryptionContextSubset: ["tenant": "other"]))
            }
            await expectKMSError(.accessDenied, "more than it has") {
                try await delegate([.generateDataKey], GrantConstraints(encryptionContextSubset: ["tenant": "acme"]))
            }
            _ = try await encrypt(f, key, as: Self.stranger, context: ["tenant": "acme", "team": "a"])
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.stranger, context: ["tenant": "acme"]) }
        }
    }

    @Test func dryRunChangesNothing() async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            var create = CreateGrantRequest(keyId: key, granteePrincipal: "unix:uid:2001", operations: [.encrypt])
            create.dryRun = true
            await expectKMSError(.dryRunOperation) { try await f.engine.createGrant(create, caller: Self.owner) }
            create.granteePrincipal = "nobody"
            await expectKMSError(.validation, "validation comes first") { try await f.engine.createGrant(create, caller: Self.owner) }
            create.granteePrincipal = "unix:uid:2001"
            await expectKMSError(.accessDenied, "then authorization") { try await f.engine.createGrant(create, caller: Self.stranger) }
            #expect(try await f.store.grants(keyID: key).isEmpty)

            let g = try await grant(f, key, [.encrypt], retiring: "unix:uid:2003")
            await expectKMSError(.dryRunOperation) {
                try await f.engine.retireGrant(RetireGrantRequest(grantToken: g.grantToken, dryRun: true), caller: Self.stranger)
            }
            await expectKMSError(.accessDenied) {
                try await f.engine.retireGrant(RetireGrantRequest(grantToken: g.grantToken, dryRun: true), caller: Self.grantee)
            }
            await expectKMSError(.dryRunOperation) {
                try await f.engine.revokeGrant(RevokeGrantRequest(keyId: key, grantId: g.grantId, dryRun: true), caller: Self.owner)
            }
            #expect(try await f.store.grants(keyID: key).map(\.grantID) == [g.grantId])
            _ = try await encrypt(f, key, as: Self.grantee)
        }
    }

    @Test func grantsPersistAndAreDeletedWithTheirKey() async throws {
        let f = try await EngineFixture.make(.wrapped)
        let key = try await f.createKey().keyId
        let kept = try await f.createKey().keyId
        _ = try await grant(f, key, [.encrypt], constraints: GrantConstraints(encryptionContextEquals: ["a": "b"]))
        let survivor = try await grant(f, kept, [.encrypt])
        let g = try await f.reopen()
        defer { Task { await g.shutdown() } }
        let listed = try await g.engine.listGrants(ListGrantsRequest(keyId: key), caller: Self.owner).grants
        #expect(listed.count == 1 && listed.first?.constraints == GrantConstraints(encryptionContextEquals: ["a": "b"]))
        _ = try await encrypt(g, key, as: Self.grantee, context: ["a": "b"])

        try await g.store.deleteKey(id: key)
        #expect(try await g.store.grants(keyID: key).isEmpty, "ON DELETE CASCADE")
        try await g.engine.store.deleteKey(id: key)
        #expect(g.engine.store.grant(id: listed[0].grantId) == nil)
        #expect(g.engine.store.grant(id: survivor.grantId) != nil)
    }

    @Test func adminsMaySeeAndRevokeAnyGrant() async throws {
        try await withEngine(.token, configure: { $0.accessControl.admins = PrincipalSet(uids: [0]) }) { f in
            let key = try await f.createKey().keyId
            let g = try await grant(f, key, [.encrypt], retiring: "unix:uid:2003")
            #expect(try await f.engine.listGrants(ListGrantsRequest(keyId: key), caller: Self.admin).grants.count == 1)
            #expect(try await f.engine.listRetirableGrants(ListRetirableGrantsRequest(retiringPrincipal: "unix:uid:2003"),
                                                           caller: Self.admin).grants.count == 1)
            _ = try await f.engine.revokeGrant(RevokeGrantRequest(keyId: key, grantId: g.grantId), caller: Self.admin)
        }
    }

    @Test func theAuditFactsNameTheGrant() async throws {
        try await withEngine(.token) { f in
            let key = try await f.createKey().keyId
            let created = AuditFacts()
            let g = try await f.engine.createGrant(CreateGrantRequest(keyId: key, granteePrincipal: "unix:uid:2001", operations: [.encrypt]),
                                                   caller: Self.owner, facts: created)
            #expect(created.recorded.grantID == g.grantId && created.recorded.keyID == key)
            let used = AuditFacts()
            _ = try await f.engine.encrypt(EncryptRequest(keyId: key, plaintext: Data("x".utf8)), caller: Self.grantee, facts: used)
            #expect(used.recorded.grantID == g.grantId)
            let byPolicy = AuditFacts()
            _ = try await f.engine.encrypt(EncryptRequest(keyId: key, plaintext: Data("x".utf8)), caller: Self.owner, facts: byPolicy)
            #expect(byPolicy.recorded.grantID == nil)
            let revoked = AuditFacts()
            _ = try await f.engine.revokeGrant(RevokeGrantRequest(keyId: key, grantId: g.grantId), caller: Self.owner, facts: revoked)
            #expect(revoked.recorded.grantID == g.grantId)
        }
    }
}
