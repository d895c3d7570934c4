import Foundation
import KMSModel

/// Custom key stores as extra PKCS#11 tokens (issue #17): an AWS_CLOUDHSM
/// key store whose `CloudHsmClusterId` names one of the daemon's `[[tokens]]`
/// and whose `KeyStorePassword` is that token's user PIN. Keys created in it
/// (`CreateKey` with `CustomKeyStoreId` and `Origin` AWS_CLOUDHSM) are token
/// objects on that token, and every operation on them runs there. As in AWS:
/// only SYMMETRIC_DEFAULT keys, no rotation, connection states and error
/// codes from the model, and management by the daemon's admins only.
/// Connecting is done before ConnectCustomKeyStore answers (a SoftHSM or
/// CloudHSM login takes milliseconds); DescribeCustomKeyStores tells how it went.
extension KMSEngine {
    public func createCustomKeyStore(_ r: CreateCustomKeyStoreRequest, caller: Principal,
                                     facts: AuditFacts = AuditFacts()) async throws -> CreateCustomKeyStoreResponse {
        try authorizeService(.createCustomKeyStore, caller: caller)
        if r.customKeyStoreType == .externalKeyStore {
            throw KMSError.unsupported("EXTERNAL_KEY_STORE is not supported: p11kmsd does not use keys held by another key "
                + "manager. The other way round is the XKS proxy feature: p11kmsd's XKS proxy endpoint lets AWS KMS use "
                + "keys in this HSM as an external key store.")
        }
        let name = try Self.storeName(r.customKeyStoreName, member: "CustomKeyStoreName")
        let cluster = try clusterID(r.cloudHsmClusterId)
        let password = try Self.password(r.keyStorePassword)
        if let anchor = r.trustAnchorCertificate, anchor.isEmpty || anchor.count > 5000 {
            throw KMSError.validation("TrustAnchorCertificate must be 1 to 5000 characters.")
        }
        let existing = try await store.customKeyStores()
        if existing.contains(where: { $0.name == name }) {
            throw KMSError(.customKeyStoreNameInUse, "A custom key store named '\(name)' exists already.")
        }
        if let other = existing.first(where: { $0.clusterID == cluster }) {
            throw KMSError(.cloudHsmClusterInUse, "Token \(cluster) is already the custom key store \(other.id).")
        }
        let id = "cks-" + (0..<17).map { _ in String(UInt8.random(in: 0...15), radix: 16) }.joined()
        let record = CustomKeyStoreRecord(
            id: id, name: name, clusterID: cluster, trustAnchorCertificate: r.trustAnchorCertificate,
            encryptedPassword: try await encryptPassword(password, storeID: id), createdAt: clock.now)
        do {
            try await store.put(record)
        } catch MetadataStoreError.alreadyExists {
            throw KMSError(.customKeyStoreNameInUse, "A custom key store named '\(name)' or on token \(cluster) exists already.")
        }
        return CreateCustomKeyStoreResponse(customKeyStoreId: id)
    }

    public func describeCustomKeyStores(_ r: DescribeCustomKeyStoresRequest, caller: Principal,
                                        facts: AuditFacts = AuditFacts()) async throws -> DescribeCustomKeyStoresResponse {
        try authorizeService(.describeCustomKeyStores, caller: caller)
        if r.customKeyStoreId != nil && r.customKeyStoreName != nil {
            throw KMSError.validation("Give CustomKeyStoreId or CustomKeyStoreName, not both.")
        }
        let limit = try Validate.limit(r.limit)
        var records = try await store.customKeyStores()
        if let id = r.customKeyStoreId {
            records = records.filter { $0.id == id }
            if records.isEmpty { throw KMSError(.customKeyStoreNotFound, "There is no custom key store \(id).") }
        }
        if let name = r.customKeyStoreName {
            records = records.filter { $0.name == name }
            if records.isEmpty { throw KMSError(.customKeyStoreNotFound, "There is no custom key store named '\(name)'.") }
        }
        if let marker = r.marker {
            guard marker.hasPrefix("cks-") else {
                throw KMSError(.invalidMarker, "Marker is not one this operation returned.")
            }
            records = records.filter { $0.id > marker }
        }
        let page = Array(records.prefix(limit))
        let truncated = records.count > limit
        return DescribeCustomKeyStoresResponse(customKeyStores: page.map(entry), nextMarker: truncated ? page.last?.id : nil,
                                               truncated: truncated)
    }

    private func entry(_ record: CustomKeyStoreRecord) -> CustomKeyStoresListEntry {
        let c = customKeyStoreConnections.connection(record.id)
        return CustomKeyStoresListEntry(
            customKeyStoreId: record.id, customKeyStoreName: record.name, cloudHsmClusterId: record.clusterID,
            trustAnchorCertificate: record.trustAnchorCertificate, connectionState: c.state,
            connectionErrorCode: c.state == .failed ? c.error : nil, creationDate: record.createdAt)
    }

    public func updateCustomKeyStore(_ r: UpdateCustomKeyStoreRequest, caller: Principal,
                                     facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try authorizeService(.updateCustomKeyStore, caller: caller)
        var record = try await customKeyStore(r.customKeyStoreId)
        if r.xksProxyUriEndpoint != nil || r.xksProxyUriPath != nil || r.xksProxyVpcEndpointServiceName != nil
            || r.xksProxyAuthenticationCredential != nil || r.xksProxyConnectivity != nil {
            throw KMSError.validation("The XksProxy members apply to external key stores; \(record.id) is AWS_CLOUDHSM.")
        }
        let existing = try await store.customKeyStores()
        if let new = r.newCustomKeyStoreName {
            record.name = try Self.storeName(new, member: "NewCustomKeyStoreName")
            if existing.contains(where: { $0.name == record.name && $0.id != record.id }) {
                throw KMSError(.customKeyStoreNameInUse, "A custom key store named '\(record.name)' exists already.")
            }
        }
        if r.keyStorePassword != nil || r.cloudHsmClusterId != nil {
            let state = customKeyStoreConnections.connection(record.id).state
            guard state == .disconnected else {
                throw KMSError(.customKeyStoreInvalidState, "\(record.id) is \(state.rawValue): only its name can change "
                    + "while it is not DISCONNECTED. Disconnect it first.")
            }
        }
        if let password = r.keyStorePassword {
            record.encryptedPassword = try await encryptPassword(try Self.password(password), storeID: record.id)
        }
        if let cluster = r.cloudHsmClusterId {
            record.clusterID = try clusterID(cluster)
            if let other = existing.first(where: { $0.clusterID == record.clusterID && $0.id != record.id }) {
                throw KMSError(.cloudHsmClusterInUse, "Token \(record.clusterID) is already the custom key store \(other.id).")
            }
        }
        try await store.put(record)
        return EmptyResponse()
    }

    public func deleteCustomKeyStore(_ r: CustomKeyStoreIdRequest, caller: Principal,
                                     facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try authorizeService(.deleteCustomKeyStore, caller: caller)
        let record = try await customKeyStore(r.customKeyStoreId)
        let state = customKeyStoreConnections.connection(record.id).state
        guard state == .disconnected else {
            throw KMSError(.customKeyStoreInvalidState, "\(record.id) is \(state.rawValue); disconnect it before deleting it.")
        }
        var marker: String?
        while true {
            let page = try await store.keys(after: marker, limit: 1000)
            if let key = page.first(where: { $0.customKeyStoreID == record.id }) {
                throw KMSError(.customKeyStoreHasCMKs, "\(record.id) still holds keys (\(key.keyID) among them); "
                    + "ScheduleKeyDeletion them and wait for their deletion first.")
            }
            guard page.count == 1000 else { break }
            marker = page.last?.keyID
        }
        try await store.deleteCustomKeyStore(id: record.id)
        return EmptyResponse()
    }

    public func connectCustomKeyStore(_ r: CustomKeyStoreIdRequest, caller: Principal,
                                      facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try authorizeService(.connectCustomKeyStore, caller: caller)
        var record = try await customKeyStore(r.customKeyStoreId)
        let state = customKeyStoreConnections.connection(record.id).state
        if state == .failed || state == .disconnecting {
            throw KMSError(.customKeyStoreInvalidState, "\(record.id) is \(state.rawValue); disconnect it, fix the cause "
                + "(DescribeCustomKeyStores gives its ConnectionErrorCode), then connect it again.")
        }
        guard state != .connected else { return EmptyResponse() }
        record.connected = true
        try await store.put(record)
        await connect(record)
        return EmptyResponse()
    }

    public func disconnectCustomKeyStore(_ r: CustomKeyStoreIdRequest, caller: Principal,
                                         facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        try authorizeService(.disconnectCustomKeyStore, caller: caller)
        var record = try await customKeyStore(r.customKeyStoreId)
        let state = customKeyStoreConnections.connection(record.id).state
        guard state != .disconnected && state != .disconnecting else {
            throw KMSError(.customKeyStoreInvalidState, "\(record.id) is already \(state.rawValue).")
        }
        record.connected = false
        try await store.put(record)
        await disconnect(record.id)
        return EmptyResponse()
    }

    // MARK: Helpers

    func customKeyStore(_ id: String?) async throws -> CustomKeyStoreRecord {
        guard let id, !id.isEmpty else { throw KMSError.validation("CustomKeyStoreId is required.") }
        guard let record = try await store.customKeyStores().first(where: { $0.id == id }) else {
            throw KMSError(.customKeyStoreNotFound, "There is no custom key store \(id).")
        }
        return record
    }

    /// A configured extra token's name; the model's pattern first, so a typo is told apart from a missing token.
    private func clusterID(_ raw: String?) throws -> String {
        guard let raw, !raw.isEmpty else { throw KMSError.validation("CloudHsmClusterId is required for an AWS_CLOUDHSM key store.") }
        guard CustomKeyStoreTokens.isValidName(raw) else {
            throw KMSError.validation("CloudHsmClusterId must match cluster-[2-7a-zA-Z]{11,16}: the name of one of the "
                + "daemon's [[tokens]].")
        }
        guard configuration.customKeyStoreTokens.find[raw] != nil else {
            let known = configuration.customKeyStoreTokens.find.keys.sorted()
            throw KMSError(.cloudHsmClusterNotFound, "The daemon has no token named \(raw) in its [[tokens]]"
                + (known.isEmpty ? " (it has none)." : "; it has \(known.joined(separator: ", ")).") )
        }
        return raw
    }

    private static func storeName(_ raw: String?, member: String) throws -> String {
        guard let raw, (1...256).contains(raw.count) else { throw KMSError.validation("\(member) must be 1 to 256 characters.") }
        return raw
    }

    private static func password(_ raw: String?) throws -> String {
        guard let raw else { throw KMSError.validation("KeyStorePassword (the token's user PIN) is required.") }
        guard (7...32).contains(raw.count) else { throw KMSError.validation("KeyStorePassword must be 7 to 32 characters.") }
        return raw
    }
}
