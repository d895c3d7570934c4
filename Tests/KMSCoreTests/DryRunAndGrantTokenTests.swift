import Foundation
@testable import KMSCore
import KMSModel
import Testing

/// `DryRun` and `GrantTokens` on every operation whose model input has
/// them (botocore's service-2.json; DeriveSharedSecret's DryRun is checked in
/// KeyAgreementAndLastUsageTests), sent as JSON through the router as a front end does.
@Suite("DryRun and GrantTokens")
struct DryRunAndGrantTokenTests {
    static let owner = Principal(uid: 1000, gid: 1000, userName: "tester")
    static let grantee = Principal(uid: 2001, gid: 2001, userName: "checkout")
    static let stranger = Principal(uid: 2003, gid: 2003, userName: "mallory")

    static let dryRunOperations: [KMSOperation] = [
        .createGrant, .decrypt, .encrypt, .generateDataKey, .generateDataKeyPair, .generateDataKeyPairWithoutPlaintext,
        .generateDataKeyWithoutPlaintext, .generateMac, .reEncrypt, .retireGrant, .revokeGrant, .sign, .verify, .verifyMac,
    ]
    static let grantTokenOperations: [KMSOperation] = [
        .createGrant, .decrypt, .describeKey, .encrypt, .generateDataKey, .generateDataKeyPair,
        .generateDataKeyPairWithoutPlaintext, .generateDataKeyWithoutPlaintext, .generateMac, .getPublicKey, .reEncrypt,
        .sign, .verify, .verifyMac,
    ]

    /// Keys of each kind, material made with them, and grants to `grantee`
    /// of everything each key can do.
    struct World {
        var symmetric = "", ecc = "", hmac = ""
        var blob = Data(), signature = Data(), mac = Data()
        var tokens: [String: String] = [:]
        var grantIDs: [String: String] = [:]
    }

    static func world(_ f: EngineFixture) async throws -> World {
        var w = World()
        w.symmetric = try await f.createKey().keyId
        w.ecc = try await f.createKey(.eccNistP256).keyId
        w.hmac = try await f.createKey(.hmac256).keyId
        w.blob = try await f.encrypt(w.symmetric, "dry")
        w.signature = try await f.engine.sign(SignRequest(keyId: w.ecc, message: Data("m".utf8), signingAlgorithm: .ecdsaSHA256),
                                              caller: owner).signature
        w.mac = try await f.engine.generateMac(GenerateMacRequest(keyId: w.hmac, message: Data("m".utf8), macAlgorithm: .hmacSHA256),
                                               caller: owner).mac
        for key in [w.symmetric, w.ecc, w.hmac] {
            let record = try #require(try await f.engine.store.key(id: key))
            let g = try await f.engine.createGrant(
                CreateGrantRequest(keyId: key, granteePrincipal: "unix:uid:2001",
                                   operations: GrantRules.operations(for: record).sorted { $0.rawValue < $1.rawValue },
                                   retiringPrincipal: "unix:uid:2001"), caller: owner)
            w.tokens[key] = g.grantToken
            w.grantIDs[key] = g.grantId
        }
        return w
    }

    /// A request body for `op`, and the key it is on.
    static func body(_ op: KMSOperation, _ w: World) -> ([String: Any], String) {
        let message = Data("m".utf8).base64EncodedString()
        switch op {
        case .createGrant: return (["KeyId": w.symmetric, "GranteePrincipal": "unix:uid:2002", "Operations": ["Encrypt"]], w.symmetric)
        case .decrypt: return (["CiphertextBlob": w.blob.base64EncodedString()], w.symmetric)
        case .encrypt: return (["KeyId": w.symmetric, "Plaintext": message], w.symmetric)
        case .reEncrypt: return (["CiphertextBlob": w.blob.base64EncodedString(), "DestinationKeyId": w.symmetric], w.symmetric)
        case .generateDataKey, .generateDataKeyWithoutPlaintext: return (["KeyId": w.symmetric, "KeySpec": "AES_256"], w.symmetric)
        case .generateDataKeyPair, .generateDataKeyPairWithoutPlaintext:
            return (["KeyId": w.symmetric, "KeyPairSpec": "ECC_NIST_P256"], w.symmetric)
        case .describeKey: return (["KeyId": w.symmetric], w.symmetric)
        case .getPublicKey: return (["KeyId": w.ecc], w.ecc)
        case .sign: return (["KeyId": w.ecc, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"], w.ecc)
        case .verify:
            return (["KeyId": w.ecc, "Message": message, "Signature": w.signature.base64EncodedString(),
                     "SigningAlgorithm": "ECDSA_SHA_256"], w.ecc)
        case .generateMac: return (["KeyId": w.hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"], w.hmac)
        case .verifyMac:
            return (["KeyId": w.hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256", "Mac": w.mac.base64EncodedString()], w.hmac)
        case .retireGrant: return (["GrantToken": w.tokens[w.symmetric]!], w.symmetric)
        case .revokeGrant: return (["KeyId": w.symmetric, "GrantId": w.grantIDs[w.symmetric]!], w.symmetric)
        default: preconditionFailure("no body for \(op)")
        }
    }

    static func send(_ f: EngineFixture, _ op: KMSOperation, _ body: [String: Any], as caller: Principal) async throws -> Data {
        let json = try JSONSerialization.data(withJSONObject: body)
        return try await OperationRouter().handle(op, engine: f.engine, body: json, caller: caller, facts: AuditFacts())
    }

    /// What a dry run must leave as it was: every row (with its encryption
    /// counters), the token's objects, and the key cache (no unwrap either).
    struct State: Equatable {
        var keys: [KeyRecord], versions: [VersionRecord], grants: [GrantRecord], objects: [String]
        var cacheHits: UInt64, cacheMisses: UInt64
    }

    static func state(_ f: EngineFixture) async throws -> State {
        let s = try await f.engine.store.snapshot()
        let cache = f.engine.cacheStatistics
        return State(keys: s.keys, versions: s.versions, grants: s.grants, objects: try f.ourTokenObjects().sorted(),
                     cacheHits: cache.hits, cacheMisses: cache.misses)
    }

    @Test(arguments: dryRunOperations)
    func aDryRunIsAuthorizedThenRefusedAndChangesNothing(operation: KMSOperation) async throws {
        try await withEngine(.wrapped) { f in
            let w = try await Self.world(f)
            var (body, _) = Self.body(operation, w)
            body["DryRun"] = true
            let before = try await Self.state(f)
            await expectKMSError(.accessDenied, "authorization runs first") {
                try await Self.send(f, operation, body, as: Self.stranger)
            }
            await expectKMSError(.dryRunOperation) { try await Self.send(f, operation, body, as: Self.owner) }
            #expect(try await Self.state(f) == before)
            // The same request without DryRun is performed.
            body["DryRun"] = false
            _ = try await Self.send(f, operation, body, as: Self.owner)
        }
    }

    @Test(arguments: grantTokenOperations)
    func aGranteeMayPassItsGrantToken(operation: KMSOperation) async throws {
        try await withEngine(.token) { f in
            let w = try await Self.world(f)
            var (body, key) = Self.body(operation, w)
            body["GrantTokens"] = [w.tokens[key]!]
            _ = try await Self.send(f, operation, body, as: Self.grantee)
            body["GrantTokens"] = ["forged"]
            await expectKMSError(.invalidGrantToken) { try await Self.send(f, operation, body, as: Self.grantee) }
            body["GrantTokens"] = [w.tokens[key]!]
            await expectKMSError(.accessDenied, "a token is no permission by itself") {
                try await Self.send(f, operation, body, as: Self.stranger)
            }
        }
    }
}
