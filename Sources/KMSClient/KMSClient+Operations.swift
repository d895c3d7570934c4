import KMSModel

/// One method per operation of DESIGN.md §4, named as `KMSOperation`; the
/// request and response types are KMSModel's. Operations whose AWS answer is
/// empty return nothing.
extension KMSClient {
    // MARK: Keys

    public func createKey(_ request: CreateKeyRequest = CreateKeyRequest()) async throws -> CreateKeyResponse {
        try await call(.createKey, request)
    }

    public func describeKey(_ request: KeyIdRequest) async throws -> DescribeKeyResponse {
        try await call(.describeKey, request)
    }

    public func listKeys(_ request: ListKeysRequest = ListKeysRequest()) async throws -> ListKeysResponse {
        try await call(.listKeys, request)
    }

    public func updateKeyDescription(_ request: UpdateKeyDescriptionRequest) async throws {
        _ = try await call(.updateKeyDescription, request, as: EmptyResponse.self)
    }

    public func enableKey(_ request: KeyIdRequest) async throws {
        _ = try await call(.enableKey, request, as: EmptyResponse.self)
    }

    public func disableKey(_ request: KeyIdRequest) async throws {
        _ = try await call(.disableKey, request, as: EmptyResponse.self)
    }

    public func scheduleKeyDeletion(_ request: ScheduleKeyDeletionRequest) async throws -> ScheduleKeyDeletionResponse {
        try await call(.scheduleKeyDeletion, request)
    }

    public func cancelKeyDeletion(_ request: KeyIdRequest) async throws -> KeyIdResponse {
        try await call(.cancelKeyDeletion, request)
    }

    // MARK: Aliases

    public func createAlias(_ request: AliasRequest) async throws {
        _ = try await call(.createAlias, request, as: EmptyResponse.self)
    }

    public func updateAlias(_ request: AliasRequest) async throws {
        _ = try await call(.updateAlias, request, as: EmptyResponse.self)
    }

    public func deleteAlias(_ request: AliasRequest) async throws {
        _ = try await call(.deleteAlias, request, as: EmptyResponse.self)
    }

    public func listAliases(_ request: ListAliasesRequest = ListAliasesRequest()) async throws -> ListAliasesResponse {
        try await call(.listAliases, request)
    }

    // MARK: Tags

    public func tagResource(_ request: TagResourceRequest) async throws {
        _ = try await call(.tagResource, request, as: EmptyResponse.self)
    }

    public func untagResource(_ request: UntagResourceRequest) async throws {
        _ = try await call(.untagResource, request, as: EmptyResponse.self)
    }

    public func listResourceTags(_ request: ListResourceTagsRequest) async throws -> ListResourceTagsResponse {
        try await call(.listResourceTags, request)
    }

    // MARK: Key policies

    public func getKeyPolicy(_ request: GetKeyPolicyRequest) async throws -> GetKeyPolicyResponse {
        try await call(.getKeyPolicy, request)
    }

    public func putKeyPolicy(_ request: PutKeyPolicyRequest) async throws {
        _ = try await call(.putKeyPolicy, request, as: EmptyResponse.self)
    }

    public func listKeyPolicies(_ request: ListResourceTagsRequest) async throws -> ListKeyPoliciesResponse {
        try await call(.listKeyPolicies, request)
    }

    // MARK: Rotation

    public func enableKeyRotation(_ request: EnableKeyRotationRequest) async throws {
        _ = try await call(.enableKeyRotation, request, as: EmptyResponse.self)
    }

    public func disableKeyRotation(_ request: KeyIdRequest) async throws {
        _ = try await call(.disableKeyRotation, request, as: EmptyResponse.self)
    }

    public func getKeyRotationStatus(_ request: KeyIdRequest) async throws -> GetKeyRotationStatusResponse {
        try await call(.getKeyRotationStatus, request)
    }

    public func rotateKeyOnDemand(_ request: KeyIdRequest) async throws -> KeyIdResponse {
        try await call(.rotateKeyOnDemand, request)
    }

    public func listKeyRotations(_ request: ListKeyRotationsRequest) async throws -> ListKeyRotationsResponse {
        try await call(.listKeyRotations, request)
    }

    // MARK: Encryption

    public func encrypt(_ request: EncryptRequest) async throws -> EncryptResponse {
        try await call(.encrypt, request)
    }

    public func decrypt(_ request: DecryptRequest) async throws -> DecryptResponse {
        try await call(.decrypt, request)
    }

    public func reEncrypt(_ request: ReEncryptRequest) async throws -> ReEncryptResponse {
        try await call(.reEncrypt, request)
    }

    // MARK: Data keys

    public func generateDataKey(_ request: GenerateDataKeyRequest) async throws -> GenerateDataKeyResponse {
        try await call(.generateDataKey, request)
    }

    public func generateDataKeyWithoutPlaintext(_ request: GenerateDataKeyRequest) async throws -> GenerateDataKeyResponse {
        try await call(.generateDataKeyWithoutPlaintext, request)
    }

    public func generateDataKeyPair(_ request: GenerateDataKeyPairRequest) async throws -> GenerateDataKeyPairResponse {
        try await call(.generateDataKeyPair, request)
    }

    public func generateDataKeyPairWithoutPlaintext(_ request: GenerateDataKeyPairRequest) async throws -> GenerateDataKeyPairResponse {
        try await call(.generateDataKeyPairWithoutPlaintext, request)
    }

    // MARK: Signing

    public func getPublicKey(_ request: KeyIdRequest) async throws -> GetPublicKeyResponse {
        try await call(.getPublicKey, request)
    }

    public func sign(_ request: SignRequest) async throws -> SignResponse {
        try await call(.sign, request)
    }

    public func verify(_ request: VerifyRequest) async throws -> VerifyResponse {
        try await call(.verify, request)
    }

    // MARK: MACs and random bytes

    public func generateMac(_ request: GenerateMacRequest) async throws -> GenerateMacResponse {
        try await call(.generateMac, request)
    }

    public func verifyMac(_ request: VerifyMacRequest) async throws -> VerifyMacResponse {
        try await call(.verifyMac, request)
    }

    public func deriveSharedSecret(_ request: DeriveSharedSecretRequest) async throws -> DeriveSharedSecretResponse {
        try await call(.deriveSharedSecret, request)
    }

    public func getKeyLastUsage(_ request: GetKeyLastUsageRequest) async throws -> GetKeyLastUsageResponse {
        try await call(.getKeyLastUsage, request)
    }

    // MARK: Custom key stores

    public func createCustomKeyStore(_ request: CreateCustomKeyStoreRequest) async throws -> CreateCustomKeyStoreResponse {
        try await call(.createCustomKeyStore, request)
    }

    public func describeCustomKeyStores(_ request: DescribeCustomKeyStoresRequest) async throws -> DescribeCustomKeyStoresResponse {
        try await call(.describeCustomKeyStores, request)
    }

    public func updateCustomKeyStore(_ request: UpdateCustomKeyStoreRequest) async throws -> EmptyResponse {
        try await call(.updateCustomKeyStore, request)
    }

    public func deleteCustomKeyStore(_ request: CustomKeyStoreIdRequest) async throws -> EmptyResponse {
        try await call(.deleteCustomKeyStore, request)
    }

    public func connectCustomKeyStore(_ request: CustomKeyStoreIdRequest) async throws -> EmptyResponse {
        try await call(.connectCustomKeyStore, request)
    }

    public func disconnectCustomKeyStore(_ request: CustomKeyStoreIdRequest) async throws -> EmptyResponse {
        try await call(.disconnectCustomKeyStore, request)
    }

    public func generateRandom(_ request: GenerateRandomRequest) async throws -> GenerateRandomResponse {
        try await call(.generateRandom, request)
    }

    // MARK: Key import

    public func getParametersForImport(_ request: GetParametersForImportRequest) async throws -> GetParametersForImportResponse {
        try await call(.getParametersForImport, request)
    }

    public func importKeyMaterial(_ request: ImportKeyMaterialRequest) async throws -> ImportKeyMaterialResponse {
        try await call(.importKeyMaterial, request)
    }

    public func deleteImportedKeyMaterial(_ request: KeyIdRequest) async throws -> DeleteImportedKeyMaterialResponse {
        try await call(.deleteImportedKeyMaterial, request)
    }
}
