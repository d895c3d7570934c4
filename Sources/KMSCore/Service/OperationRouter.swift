import Foundation
import KMSModel

/// `X-Amz-Target: TrentService.<Operation>` to the engine method, with the
/// codec on both sides: the routing step of `KMSService`.
struct OperationRouter: Sendable {
    typealias Handler = @Sendable (KMSEngine, Data, Principal, AuditFacts) async throws -> Data

    static let targetPrefix = "TrentService."
    private let handlers: [KMSOperation: Handler]

    init() {
        var h: [KMSOperation: Handler] = [:]
        func add<Req: Decodable & Sendable, Res: Encodable & Sendable>(
            _ op: KMSOperation, _ method: @escaping @Sendable (KMSEngine) -> (Req, Principal, AuditFacts) async throws -> Res
        ) {
            h[op] = { engine, body, caller, facts in
                let request = try AWSJSONCodec.decode(Req.self, from: body)
                return try AWSJSONCodec.encode(try await method(engine)(request, caller, facts))
            }
        }
        add(.createKey, KMSEngine.createKey)
        add(.describeKey, KMSEngine.describeKey)
        add(.listKeys, KMSEngine.listKeys)
        add(.updateKeyDescription, KMSEngine.updateKeyDescription)
        add(.enableKey, KMSEngine.enableKey)
        add(.disableKey, KMSEngine.disableKey)
        add(.scheduleKeyDeletion, KMSEngine.scheduleKeyDeletion)
        add(.cancelKeyDeletion, KMSEngine.cancelKeyDeletion)
        add(.createAlias, KMSEngine.createAlias)
        add(.updateAlias, KMSEngine.updateAlias)
        add(.deleteAlias, KMSEngine.deleteAlias)
        add(.listAliases, KMSEngine.listAliases)
        add(.tagResource, KMSEngine.tagResource)
        add(.untagResource, KMSEngine.untagResource)
        add(.listResourceTags, KMSEngine.listResourceTags)
        add(.getKeyPolicy, KMSEngine.getKeyPolicy)
        add(.putKeyPolicy, KMSEngine.putKeyPolicy)
        add(.listKeyPolicies, KMSEngine.listKeyPolicies)
        add(.enableKeyRotation, KMSEngine.enableKeyRotation)
        add(.disableKeyRotation, KMSEngine.disableKeyRotation)
        add(.getKeyRotationStatus, KMSEngine.getKeyRotationStatus)
        add(.rotateKeyOnDemand, KMSEngine.rotateKeyOnDemand)
        add(.listKeyRotations, KMSEngine.listKeyRotations)
        add(.encrypt, KMSEngine.encrypt as @Sendable (KMSEngine) -> (EncryptRequest, Principal, AuditFacts) async throws -> EncryptResponse)
        add(.decrypt, KMSEngine.decrypt as @Sendable (KMSEngine) -> (DecryptRequest, Principal, AuditFacts) async throws -> DecryptResponse)
        add(.reEncrypt, KMSEngine.reEncrypt)
        add(.generateDataKey, KMSEngine.generateDataKey)
        add(.generateDataKeyWithoutPlaintext, KMSEngine.generateDataKeyWithoutPlaintext)
        add(.generateDataKeyPair, KMSEngine.generateDataKeyPair)
        add(.generateDataKeyPairWithoutPlaintext, KMSEngine.generateDataKeyPairWithoutPlaintext)
        add(.getPublicKey, KMSEngine.getPublicKey)
        add(.sign, KMSEngine.sign)
        add(.verify, KMSEngine.verify as @Sendable (KMSEngine) -> (VerifyRequest, Principal, AuditFacts) async throws -> VerifyResponse)
        add(.generateMac, KMSEngine.generateMac)
        add(.verifyMac, KMSEngine.verifyMac)
        add(.generateRandom, KMSEngine.generateRandom)
        add(.getParametersForImport, KMSEngine.getParametersForImport)
        add(.importKeyMaterial, KMSEngine.importKeyMaterial)
        add(.deleteImportedKeyMaterial, KMSEngine.deleteImportedKeyMaterial)
        add(.createGrant, KMSEngine.createGrant)
        add(.listGrants, KMSEngine.listGrants)
        add(.listRetirableGrants, KMSEngine.listRetirableGrants)
        add(.retireGrant, KMSEngine.retireGrant)
        add(.revokeGrant, KMSEngine.revokeGrant)
        add(.deriveSharedSecret, KMSEngine.deriveSharedSecret)
        add(.getKeyLastUsage, KMSEngine.getKeyLastUsage)
        add(.createCustomKeyStore, KMSEngine.createCustomKeyStore)
        add(.describeCustomKeyStores, KMSEngine.describeCustomKeyStores)
        add(.updateCustomKeyStore, KMSEngine.updateCustomKeyStore)
        add(.deleteCustomKeyStore, KMSEngine.deleteCustomKeyStore)
        add(.connectCustomKeyStore, KMSEngine.connectCustomKeyStore)
        add(.disconnectCustomKeyStore, KMSEngine.disconnectCustomKeyStore)
        for op in KMSOperation.allCases where Refusals.refuses(op) {
            h[op] = { _, body, _, _ in try Refusals.refuse(op, body: body) }
        }
        precondition(h.count == KMSOperation.allCases.count, "every operation has a route")
        handlers = h
    }

    /// The operation an `X-Amz-Target` header names, or an AWS error.
    func operation(target: String?) throws -> KMSOperation {
        guard let target else {
            throw KMSError(.unknownOperation, "The X-Amz-Target header is missing; send TrentService.<Operation>.")
        }
        guard target.hasPrefix(Self.targetPrefix),
              let op = KMSOperation(rawValue: String(target.dropFirst(Self.targetPrefix.count))) else {
            throw KMSError(.unknownOperation, "\(target.prefix(128)) is not an operation of this service.")
        }
        return op
    }

    func handle(_ op: KMSOperation, engine: KMSEngine, body: Data, caller: Principal, facts: AuditFacts) async throws -> Data {
        try await handlers[op]!(engine, body, caller, facts)
    }
}
