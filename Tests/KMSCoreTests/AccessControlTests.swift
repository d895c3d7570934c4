import Foundation
@testable import KMSCore
import KMSModel
import Testing

/// Key policies and the daemon's service grants, enforced by the engine.
@Suite("Access control in the engine")
struct AccessControlTests {
    static let owner = Principal(uid: 1000, gid: 1000, userName: "tester")
    static let encryptor = Principal(uid: 2001, gid: 2001, userName: "checkout", executable: "/usr/bin/checkout")
    static let decryptor = Principal(uid: 2002, gid: 2002, groups: [3000], userName: "reports", groupNames: ["reports", "finance"])
    static let stranger = Principal(uid: 2003, gid: 2003, userName: "mallory")
    static let admin = Principal(uid: 0, gid: 0, userName: "root")

    static let policy = """
        {"Version": "2012-10-17", "Statement": [
          {"Sid": "owner", "Effect": "Allow", "Principal": {"Unix": {"Uid": [1000]}}, "Action": "kms:*"},
          {"Sid": "checkout-encrypts", "Effect": "Allow", "Principal": {"Unix": {"User": ["checkout"]}},
           "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
           "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"},
                         "StringLike": {"p11kms:CallerExecutable": "/usr/bin/*"}}},
          {"Sid": "finance-decrypts", "Effect": "Allow", "Principal": {"Unix": {"Group": ["finance"]}},
           "Action": "kms:Decrypt", "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]}}},
          {"Sid": "never-via-alias", "Effect": "Deny", "Principal": {"Unix": {"Group": ["finance"]}},
           "Action": "kms:Decrypt", "Condition": {"StringEquals": {"kms:RequestAlias": "alias/forbidden"}}}
        ]}
        """

    func encrypt(_ f: EngineFixture, _ key: String, as caller: Principal, context: [String: String]) async throws -> Data {
        try await f.engine.encrypt(EncryptRequest(keyId: key, plaintext: Data("secret".utf8), encryptionContext: context),
                                   caller: caller).ciphertextBlob
    }

    @Test(arguments: KeyStorageMode.allCases)
    func keyPolicyDecidesWhoMayUseTheKey(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let key = try await f.engine.createKey(CreateKeyRequest(policy: Self.policy), caller: Self.owner).keyMetadata.keyId
            _ = try await f.engine.createAlias(AliasRequest(aliasName: "alias/forbidden", targetKeyId: key), caller: Self.owner)

            // checkout: Encrypt with tenant=acme only, from /usr/bin.
            let blob = try await encrypt(f, key, as: Self.encryptor, context: ["tenant": "acme"])
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.encryptor, context: ["tenant": "other"]) }
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.encryptor, context: [:]) }
            var elsewhere = Self.encryptor
            elsewhere.executable = "/tmp/evil"
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: elsewhere, context: ["tenant": "acme"]) }
            _ = try await f.engine.generateDataKey(GenerateDataKeyRequest(keyId: key, keySpec: .aes256, encryptionContext: ["tenant": "acme"]),
                                                   caller: Self.encryptor)
            await expectKMSError(.accessDenied) {
                try await f.engine.decrypt(DecryptRequest(ciphertextBlob: blob, encryptionContext: ["tenant": "acme"]), caller: Self.encryptor)
            }

            // reports (in group finance through a supplementary group): Decrypt only.
            let plain = try await f.engine.decrypt(DecryptRequest(ciphertextBlob: blob, encryptionContext: ["tenant": "acme"]),
                                                   caller: Self.decryptor).plaintext
            #expect(plain == Data("secret".utf8))
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: Self.decryptor, context: ["tenant": "acme"]) }
            // Explicit Deny wins over the Allow when the request names the alias.
            await expectKMSError(.accessDenied) {
                try await f.engine.decrypt(DecryptRequest(ciphertextBlob: blob, encryptionContext: ["tenant": "acme"],
                                                          keyId: "alias/forbidden"), caller: Self.decryptor)
            }

            // mallory: nothing, not even DescribeKey; and no service operations.
            await expectKMSError(.accessDenied) { try await f.engine.describeKey(KeyIdRequest(keyId: key), caller: Self.stranger) }
            await expectKMSError(.accessDenied) {
                try await f.engine.decrypt(DecryptRequest(ciphertextBlob: blob, encryptionContext: ["tenant": "acme"]), caller: Self.stranger)
            }
            await expectKMSError(.accessDenied) { try await f.engine.createKey(CreateKeyRequest(), caller: Self.stranger) }
            await expectKMSError(.accessDenied) { try await f.engine.listKeys(ListKeysRequest(), caller: Self.stranger) }
            await expectKMSError(.accessDenied) { try await f.engine.listAliases(ListAliasesRequest(), caller: Self.stranger) }
            // GenerateRandom is open unless restricted.
            _ = try await f.engine.generateRandom(GenerateRandomRequest(numberOfBytes: 8), caller: Self.stranger)
        }
    }

    @Test func reEncryptNeedsFromOnTheSourceAndToOnTheDestination() async throws {
        try await withEngine(.wrapped) { f in
            func policy(_ actions: [String]) -> String {
                let list = (["\"kms:Encrypt\"", "\"kms:Decrypt\""] + actions.map { "\"\($0)\"" }).joined(separator: ",")
                return #"{"Statement":[{"Effect":"Allow","Principal":{"Unix":{"Uid":[1000]}},"Action":"kms:*"},"#
                    + #"{"Effect":"Allow","Principal":{"Unix":{"Uid":[2001]}},"Action":[\#(list)]}]}"#
            }
            let source = try await f.engine.createKey(CreateKeyRequest(policy: policy(["kms:ReEncryptFrom"])), caller: Self.owner).keyMetadata.keyId
            let onlyFrom = try await f.engine.createKey(CreateKeyRequest(policy: policy(["kms:ReEncryptFrom"])), caller: Self.owner).keyMetadata.keyId
            let destination = try await f.engine.createKey(CreateKeyRequest(policy: policy(["kms:ReEncryptTo"])), caller: Self.owner).keyMetadata.keyId
            let blob = try await f.engine.encrypt(EncryptRequest(keyId: source, plaintext: Data("x".utf8)), caller: Self.encryptor).ciphertextBlob
            _ = try await f.engine.reEncrypt(ReEncryptRequest(ciphertextBlob: blob, destinationKeyId: destination), caller: Self.encryptor)
            await expectKMSError(.accessDenied) {
                try await f.engine.reEncrypt(ReEncryptRequest(ciphertextBlob: blob, destinationKeyId: onlyFrom), caller: Self.encryptor)
            }
            let fromDestination = try await f.engine.encrypt(EncryptRequest(keyId: destination, plaintext: Data("y".utf8)),
                                                             caller: Self.encryptor).ciphertextBlob
            await expectKMSError(.accessDenied) {
                try await f.engine.reEncrypt(ReEncryptRequest(ciphertextBlob: fromDestination, destinationKeyId: destination),
                                             caller: Self.encryptor)
            }
            // There is no kms:ReEncrypt action to grant.
            await expectKMSError(.malformedPolicyDocument) {
                try await f.engine.createKey(CreateKeyRequest(policy: policy(["kms:ReEncrypt"])), caller: Self.owner)
            }
        }
    }

    @Test func adminsAlwaysManagePoliciesAndAreInTheDefaultPolicy() async throws {
        try await withEngine(.wrapped, configure: { c in
            c.accessControl = AccessControl(admins: PrincipalSet(groups: ["kms-admins"]), keyCreators: PrincipalSet(uids: [1000]))
        }) { f in
            let anAdmin = Principal(uid: 4242, gid: 4242, groups: [5000], userName: "ops", groupNames: ["ops", "kms-admins"])
            // A key locked to its owner (with the safety check bypassed).
            let locked = #"{"Statement":[{"Effect":"Allow","Principal":{"Unix":{"Uid":[1000]}},"Action":"kms:*"}]}"#
            let key = try await f.engine.createKey(CreateKeyRequest(policy: locked), caller: Self.owner).keyMetadata.keyId
            // The admin may not use it...
            await expectKMSError(.accessDenied) { try await encrypt(f, key, as: anAdmin, context: [:]) }
            // ...but may always read and replace its policy, so it is never lost.
            _ = try await f.engine.getKeyPolicy(GetKeyPolicyRequest(keyId: key), caller: anAdmin)
            let opened = #"{"Statement":[{"Effect":"Allow","Principal":{"Unix":{"Group":["kms-admins"]}},"Action":"kms:*"}]}"#
            _ = try await f.engine.putKeyPolicy(PutKeyPolicyRequest(keyId: key, policy: opened), caller: anAdmin)
            _ = try await encrypt(f, key, as: anAdmin, context: [:])
            // Admins may create keys and appear in the default policy of new ones.
            let mine = try await f.engine.createKey(CreateKeyRequest(), caller: anAdmin).keyMetadata.keyId
            let theirs = try await f.engine.createKey(CreateKeyRequest(), caller: Self.owner).keyMetadata.keyId
            _ = try await encrypt(f, theirs, as: anAdmin, context: [:])
            await expectKMSError(.accessDenied) { try await encrypt(f, mine, as: Self.owner, context: [:]) }
        }
    }

    @Test func randomCanBeRestricted() async throws {
        try await withEngine(.wrapped, configure: { c in
            c.accessControl.randomCallers = PrincipalSet(uids: [1000])
        }) { f in
            _ = try await f.engine.generateRandom(GenerateRandomRequest(numberOfBytes: 8), caller: Self.owner)
            await expectKMSError(.accessDenied) {
                try await f.engine.generateRandom(GenerateRandomRequest(numberOfBytes: 8), caller: Self.stranger)
            }
        }
    }

    @Test func auditFactsRecordKeyVersionAndContext() async throws {
        try await withEngine(.wrapped) { f in
            let key = try await f.createKey()
            let facts = AuditFacts()
            _ = try await f.engine.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8), encryptionContext: ["a": "b"]),
                                           caller: f.caller, facts: facts)
            #expect(facts.recorded == AuditFacts.Details(keyID: key.keyId, keyIDs: [key.keyId], keyVersion: 1, encryptionContext: ["a": "b"]))
            // A denied request still names the key it was about.
            let denied = AuditFacts()
            await expectKMSError(.accessDenied) {
                try await f.engine.describeKey(KeyIdRequest(keyId: key.keyId), caller: Self.stranger, facts: denied)
            }
            #expect(denied.recorded.keyID == key.keyId)
        }
    }
}
