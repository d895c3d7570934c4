// Wire shapes of tags, TagResource, UntagResource, ListResourceTags.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct Tag: Sendable, Hashable, Codable {
    public var tagKey: String
    public var tagValue: String
    public init(tagKey: String, tagValue: String) {
        self.tagKey = tagKey
        self.tagValue = tagValue
    }
}

public struct TagResourceRequest: Codable, Sendable {
    public var keyId: String?
    public var tags: [Tag]?
    public init(keyId: String?, tags: [Tag]?) {
        self.keyId = keyId
        self.tags = tags
    }
}

public struct UntagResourceRequest: Codable, Sendable {
    public var keyId: String?
    public var tagKeys: [String]?
    public init(keyId: String?, tagKeys: [String]?) {
        self.keyId = keyId
        self.tagKeys = tagKeys
    }
}

public struct ListResourceTagsRequest: Codable, Sendable {
    public var keyId: String?
    public var limit: Int?
    public var marker: String?
    public init(keyId: String?, limit: Int? = nil, marker: String? = nil) {
        self.keyId = keyId
        self.limit = limit
        self.marker = marker
    }
}

public struct ListResourceTagsResponse: Codable, Sendable {
    public var tags: [Tag]
    public var nextMarker: String?
    public var truncated: Bool
    public init(tags: [Tag], nextMarker: String? = nil, truncated: Bool) {
        self.tags = tags
        self.nextMarker = nextMarker
        self.truncated = truncated
    }
}
