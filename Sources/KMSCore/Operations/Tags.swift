import KMSModel

extension KMSEngine {
    public func tagResource(_ r: TagResourceRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let tags = try Validate.required(r.tags, "Tags")
        try Validate.tags(tags)
        try await changeAuthorizedKey(r.keyId, for: .tagResource, caller: caller, facts: facts) { key in
            try checkState(key, for: .tagResource)
            for tag in tags {
                if let i = key.tags.firstIndex(where: { $0.tagKey == tag.tagKey }) {
                    key.tags[i].tagValue = tag.tagValue
                } else {
                    key.tags.append(tag)
                }
            }
            guard key.tags.count <= Validate.maximumTagsPerKey else {
                throw KMSError(.limitExceeded, "A key may have at most \(Validate.maximumTagsPerKey) tags.")
            }
        }
        return EmptyResponse()
    }

    public func untagResource(_ r: UntagResourceRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> EmptyResponse {
        let keys = try Validate.required(r.tagKeys, "TagKeys")
        for k in keys { try Validate.length(k, "TagKeys", max: 128) }
        try await changeAuthorizedKey(r.keyId, for: .untagResource, caller: caller, facts: facts) { key in
            try checkState(key, for: .untagResource)
            key.tags.removeAll { keys.contains($0.tagKey) }
        }
        return EmptyResponse()
    }

    public func listResourceTags(_ r: ListResourceTagsRequest, caller: Principal, facts: AuditFacts = AuditFacts()) async throws -> ListResourceTagsResponse {
        let limit = try Validate.limit(r.limit)
        try Validate.marker(r.marker)
        let key = try await authorizedKey(r.keyId, allowAlias: false, for: .listResourceTags, caller: caller, facts: facts)
        var start = 0
        if let marker = r.marker {
            guard let i = key.tags.firstIndex(where: { $0.tagKey == marker }) else {
                throw KMSError(.invalidMarker, "Marker is not one this service returned.")
            }
            start = i + 1
        }
        let shown = Array(key.tags[start...].prefix(limit))
        let truncated = start + shown.count < key.tags.count
        return ListResourceTagsResponse(tags: shown, nextMarker: truncated ? shown.last?.tagKey : nil, truncated: truncated)
    }
}
