import Foundation
import GRPCCore
import KMSCore
import KMSModel

/// `v2.KeyManagementService` over `KMSService`: every Encrypt and Decrypt
/// is one request of the common pipeline (admission, key policy, audit
/// line), named by the connection's peer credentials; this type only
/// translates messages and statuses.
struct KeyManagementService: V2_KeyManagementService.ServiceProtocol {
    let kms: KMSService
    let keyName: String
    let callers: ConnectionCallers
    let health: HealthProbe

    /// The seed kube-apiserver sends is 32 bytes; with the blob's 53 bytes
    /// of header, IV and tag the ciphertext stays well under 1 KiB.
    static let maxPlaintextBytes = 512
    static let maxCiphertextBytes = 1024

    func status(request: ServerRequest<V2_StatusRequest>, context: ServerContext) async throws
        -> ServerResponse<V2_StatusResponse> {
        let caller: Principal
        switch callers.caller(connection(of: request.metadata)) {
        case .success(let principal): caller = principal
        case .failure(let error): throw RPCError(error)
        }
        var response = V2_StatusResponse()
        response.version = "v2"
        do {
            let current = try await kms.engine.currentVersion(ofKey: keyName)
            guard let version = current.version else {
                response.healthz = "the KEK \(keyName) has no key material"
                return ServerResponse(message: response)
            }
            response.keyID = KEKVersionID(keyARN: current.keyARN, version: version).description
            guard current.state == .enabled else {
                health.forget()
                response.healthz = "the KEK \(keyName) is \(current.state.rawValue)"
                return ServerResponse(message: response)
            }
            response.healthz = await health.healthz(for: caller, keyID: response.keyID)
        } catch let error as KMSError {
            response.healthz = "the KEK \(keyName) cannot be used: \(error.name.rawValue)"
        }
        return ServerResponse(message: response)
    }

    func encrypt(request: ServerRequest<V2_EncryptRequest>, context: ServerContext) async throws
        -> ServerResponse<V2_EncryptResponse> {
        let m = request.message
        guard m.uid.utf8.count <= Annotations.maxUIDBytes else {
            throw RPCError(code: .invalidArgument, message: "uid is longer than \(Annotations.maxUIDBytes) bytes; kube-apiserver sends a UUID.")
        }
        guard (1...Self.maxPlaintextBytes).contains(m.plaintext.count) else {
            throw RPCError(code: .invalidArgument,
                           message: "plaintext must be 1 to \(Self.maxPlaintextBytes) bytes (kube-apiserver sends a 32-byte seed).")
        }
        let annotations = Annotations.forEncrypt(uid: m.uid)
        let plain = EncryptRequest(keyId: keyName, plaintext: m.plaintext,
                                   encryptionContext: Annotations.encryptionContext(annotations))
        let answer = await kms.handle(pipelineRequest(.encrypt, request.metadata, uid: m.uid), operation: .encrypt) {
            engine, caller, facts in try await engine.encrypt(plain, caller: caller, facts: facts)
        }
        let sealed = try answer.mapError(RPCError.init).get().ciphertextBlob
        guard let claimed = kms.engine.claimedKeyVersion(ofCiphertext: [UInt8](sealed)) else {
            throw RPCError(code: .internalError, message: "The ciphertext the service made names no key version; see the daemon log.")
        }
        var response = V2_EncryptResponse()
        response.ciphertext = sealed
        response.keyID = KEKVersionID(keyARN: claimed.keyARN, version: claimed.version).description
        response.annotations = annotations
        return ServerResponse(message: response)
    }

    func decrypt(request: ServerRequest<V2_DecryptRequest>, context: ServerContext) async throws
        -> ServerResponse<V2_DecryptResponse> {
        let m = request.message
        // What the request claims is checked before the HSM is asked, and any
        // mismatch is the same refusal as a failed tag: it is still a request
        // of the pipeline, refused there, so the audit log records it.
        let encryptionContext = Annotations.encryptionContext(m.annotations)
        let claimed = kms.engine.claimedKeyVersion(ofCiphertext: [UInt8](m.ciphertext))
        let consistent = m.ciphertext.count <= Self.maxCiphertextBytes && m.uid.utf8.count <= Annotations.maxUIDBytes
            && encryptionContext != nil && claimed != nil
            && KEKVersionID(m.keyID) == claimed.map { KEKVersionID(keyARN: $0.keyARN, version: $0.version) }
        let sealed = DecryptRequest(ciphertextBlob: m.ciphertext, encryptionContext: encryptionContext ?? [:], keyId: keyName)
        var pipeline = pipelineRequest(.decrypt, request.metadata, uid: m.uid)
        if !consistent, pipeline.refusal == nil { pipeline.refusal = KMSError.invalidCiphertext }
        let answer = await kms.handle(pipeline, operation: .decrypt) { engine, caller, facts in
            try await engine.decrypt(sealed, caller: caller, facts: facts)
        }
        var response = V2_DecryptResponse()
        response.plaintext = try answer.mapError(RPCError.init).get().plaintext
        return ServerResponse(message: response)
    }

    /// One request of the pipeline, from the connection's caller, with the
    /// Kubernetes request uid on its audit line. The engine call is handed
    /// over typed (`KMSService.handle(_:operation:_:)`), so it has no body.
    private func pipelineRequest(_ operation: KMSOperation, _ metadata: Metadata, uid: String) -> KMSService.Request {
        let (target, body) = (operation.target, Data())
        let caller = callers.caller(connection(of: metadata))
        var audit: [String: String] = [:]
        if !uid.isEmpty { audit["kubernetes:uid"] = String(uid.prefix(Annotations.maxUIDBytes)) }
        switch caller {
        case .success(let principal):
            return KMSService.Request(target: target, body: body, caller: principal, auditContext: audit)
        case .failure(let error):
            return KMSService.Request(target: target, body: body, caller: nil, refusal: error, auditContext: audit)
        }
    }

    private func connection(of metadata: Metadata) -> String? {
        metadata[stringValues: ConnectionCallers.header].first { _ in true }
    }
}
