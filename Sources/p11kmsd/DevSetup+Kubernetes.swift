import Foundation
import KMSCore
import KMSModel
#if canImport(Glibc)
import Glibc
#endif

extension DevSetup {
    /// `--kubernetes-socket`: the KEK `name` (an alias) made if it does not
    /// exist, by the developer, through the pipeline (so audited), with the
    /// default policy: the developer (and root) may use it, nobody else.
    static func ensureKubernetesKEK(_ service: KMSService, name: String) async throws {
        let developer = Principal(uid: getuid(), gid: getgid(), userName: nil)
        func call(_ operation: String, _ body: some Encodable) async throws -> KMSService.Response {
            await service.handle(KMSService.Request(target: "TrentService." + operation, body: try AWSJSONCodec.encode(body),
                                                    caller: developer))
        }
        let described = try await call("DescribeKey", KeyIdRequest(keyId: name))
        guard described.error?.name == .notFound else {
            if let error = described.error { throw error }
            return
        }
        let created = try await call("CreateKey", CreateKeyRequest(description: "Kubernetes KMS v2 plugin KEK (dev mode)"))
        if let error = created.error { throw error }
        let key = try AWSJSONCodec.decode(CreateKeyResponse.self, from: created.body).keyMetadata.keyId
        let aliased = try await call("CreateAlias", AliasRequest(aliasName: name, targetKeyId: key))
        if let error = aliased.error { throw error }
    }
}
