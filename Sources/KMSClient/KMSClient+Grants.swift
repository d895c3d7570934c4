import KMSModel

/// The grant operations, named as `KMSOperation`.
extension KMSClient {
    public func createGrant(_ request: CreateGrantRequest) async throws -> CreateGrantResponse {
        try await call(.createGrant, request)
    }

    public func listGrants(_ request: ListGrantsRequest) async throws -> ListGrantsResponse {
        try await call(.listGrants, request)
    }

    public func listRetirableGrants(_ request: ListRetirableGrantsRequest) async throws -> ListGrantsResponse {
        try await call(.listRetirableGrants, request)
    }

    public func retireGrant(_ request: RetireGrantRequest) async throws {
        _ = try await call(.retireGrant, request, as: EmptyResponse.self)
    }

    public func revokeGrant(_ request: RevokeGrantRequest) async throws {
        _ = try await call(.revokeGrant, request, as: EmptyResponse.self)
    }
}
