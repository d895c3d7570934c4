import Foundation

// Wire shapes of Create/Describe/Update/Delete/Connect/DisconnectCustomKeyStore.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.
// The XKS members are decoded so that a request naming them is answered
// with a reason rather than a SerializationException.

public enum CustomKeyStoreType: String, Codable, Sendable, CaseIterable {
    case awsCloudHSM = "AWS_CLOUDHSM"
    case externalKeyStore = "EXTERNAL_KEY_STORE"
}

public enum ConnectionState: String, Codable, Sendable, CaseIterable {
    case connected = "CONNECTED", connecting = "CONNECTING", failed = "FAILED", disconnected = "DISCONNECTED"
    case disconnecting = "DISCONNECTING"
}

/// The model's ConnectionErrorCodeType values this service can report.
public enum ConnectionErrorCode: String, Codable, Sendable, CaseIterable {
    case invalidCredentials = "INVALID_CREDENTIALS"
    case clusterNotFound = "CLUSTER_NOT_FOUND"
    case userLockedOut = "USER_LOCKED_OUT"
    case internalError = "INTERNAL_ERROR"
}

public struct CreateCustomKeyStoreRequest: Codable, Sendable {
    public var customKeyStoreName: String?
    public var cloudHsmClusterId: String?
    public var trustAnchorCertificate: String?
    public var keyStorePassword: String?
    public var customKeyStoreType: CustomKeyStoreType?
    public var xksProxyUriEndpoint: String?
    public var xksProxyUriPath: String?
    public var xksProxyVpcEndpointServiceName: String?
    public var xksProxyVpcEndpointServiceOwner: String?
    public var xksProxyAuthenticationCredential: XksProxyAuthenticationCredential?
    public var xksProxyConnectivity: String?
    public init(customKeyStoreName: String?, cloudHsmClusterId: String?, trustAnchorCertificate: String? = nil,
                keyStorePassword: String?, customKeyStoreType: CustomKeyStoreType? = nil) {
        self.customKeyStoreName = customKeyStoreName
        self.cloudHsmClusterId = cloudHsmClusterId
        self.trustAnchorCertificate = trustAnchorCertificate
        self.keyStorePassword = keyStorePassword
        self.customKeyStoreType = customKeyStoreType
    }
}

public struct XksProxyAuthenticationCredential: Codable, Sendable {
    public var accessKeyId: String?
    public var rawSecretAccessKey: String?
}

public struct CreateCustomKeyStoreResponse: Codable, Sendable {
    public var customKeyStoreId: String
    public init(customKeyStoreId: String) { self.customKeyStoreId = customKeyStoreId }
}

public struct DescribeCustomKeyStoresRequest: Codable, Sendable {
    public var customKeyStoreId: String?
    public var customKeyStoreName: String?
    public var limit: Int?
    public var marker: String?
    public init(customKeyStoreId: String? = nil, customKeyStoreName: String? = nil, limit: Int? = nil, marker: String? = nil) {
        self.customKeyStoreId = customKeyStoreId
        self.customKeyStoreName = customKeyStoreName
        self.limit = limit
        self.marker = marker
    }
}

public struct CustomKeyStoresListEntry: Codable, Sendable, Hashable {
    public var customKeyStoreId: String
    public var customKeyStoreName: String
    public var cloudHsmClusterId: String?
    public var trustAnchorCertificate: String?
    public var connectionState: ConnectionState
    public var connectionErrorCode: ConnectionErrorCode?
    public var creationDate: Date
    public var customKeyStoreType: CustomKeyStoreType
    public init(customKeyStoreId: String, customKeyStoreName: String, cloudHsmClusterId: String?,
                trustAnchorCertificate: String?, connectionState: ConnectionState,
                connectionErrorCode: ConnectionErrorCode?, creationDate: Date) {
        self.customKeyStoreId = customKeyStoreId
        self.customKeyStoreName = customKeyStoreName
        self.cloudHsmClusterId = cloudHsmClusterId
        self.trustAnchorCertificate = trustAnchorCertificate
        self.connectionState = connectionState
        self.connectionErrorCode = connectionErrorCode
        self.creationDate = creationDate
        self.customKeyStoreType = .awsCloudHSM
    }
}

public struct DescribeCustomKeyStoresResponse: Codable, Sendable {
    public var customKeyStores: [CustomKeyStoresListEntry]
    public var nextMarker: String?
    public var truncated: Bool
    public init(customKeyStores: [CustomKeyStoresListEntry], nextMarker: String?, truncated: Bool) {
        self.customKeyStores = customKeyStores
        self.nextMarker = nextMarker
        self.truncated = truncated
    }
}

public struct UpdateCustomKeyStoreRequest: Codable, Sendable {
    public var customKeyStoreId: String?
    public var newCustomKeyStoreName: String?
    public var keyStorePassword: String?
    public var cloudHsmClusterId: String?
    public var xksProxyUriEndpoint: String?
    public var xksProxyUriPath: String?
    public var xksProxyVpcEndpointServiceName: String?
    public var xksProxyVpcEndpointServiceOwner: String?
    public var xksProxyAuthenticationCredential: XksProxyAuthenticationCredential?
    public var xksProxyConnectivity: String?
    public init(customKeyStoreId: String?, newCustomKeyStoreName: String? = nil, keyStorePassword: String? = nil,
                cloudHsmClusterId: String? = nil) {
        self.customKeyStoreId = customKeyStoreId
        self.newCustomKeyStoreName = newCustomKeyStoreName
        self.keyStorePassword = keyStorePassword
        self.cloudHsmClusterId = cloudHsmClusterId
    }
}

/// DeleteCustomKeyStore, ConnectCustomKeyStore and DisconnectCustomKeyStore.
public struct CustomKeyStoreIdRequest: Codable, Sendable {
    public var customKeyStoreId: String?
    public init(customKeyStoreId: String?) { self.customKeyStoreId = customKeyStoreId }
}
