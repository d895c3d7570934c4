/// Every operation of the service, named as in `X-Amz-Target` and in policy
/// actions (`kms:<name>`).
public enum KMSOperation: String, Sendable, CaseIterable, Codable {
    case createKey = "CreateKey", describeKey = "DescribeKey", listKeys = "ListKeys"
    case updateKeyDescription = "UpdateKeyDescription", enableKey = "EnableKey", disableKey = "DisableKey"
    case scheduleKeyDeletion = "ScheduleKeyDeletion", cancelKeyDeletion = "CancelKeyDeletion"
    case createAlias = "CreateAlias", updateAlias = "UpdateAlias", deleteAlias = "DeleteAlias"
    case listAliases = "ListAliases"
    case tagResource = "TagResource", untagResource = "UntagResource", listResourceTags = "ListResourceTags"
    case getKeyPolicy = "GetKeyPolicy", putKeyPolicy = "PutKeyPolicy", listKeyPolicies = "ListKeyPolicies"
    case enableKeyRotation = "EnableKeyRotation", disableKeyRotation = "DisableKeyRotation"
    case getKeyRotationStatus = "GetKeyRotationStatus", rotateKeyOnDemand = "RotateKeyOnDemand"
    case listKeyRotations = "ListKeyRotations"
    case encrypt = "Encrypt", decrypt = "Decrypt", reEncrypt = "ReEncrypt"
    case generateDataKey = "GenerateDataKey"
    case generateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext"
    case generateDataKeyPair = "GenerateDataKeyPair"
    case generateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext"
    case getPublicKey = "GetPublicKey", sign = "Sign", verify = "Verify"
    case generateMac = "GenerateMac", verifyMac = "VerifyMac", generateRandom = "GenerateRandom"
    case getParametersForImport = "GetParametersForImport", importKeyMaterial = "ImportKeyMaterial"
    case deleteImportedKeyMaterial = "DeleteImportedKeyMaterial"
    case createGrant = "CreateGrant", listGrants = "ListGrants", listRetirableGrants = "ListRetirableGrants"
    case retireGrant = "RetireGrant", revokeGrant = "RevokeGrant"
    case getKeyLastUsage = "GetKeyLastUsage", deriveSharedSecret = "DeriveSharedSecret"
    // In the model, refused with a reason (see `Refusals` in KMSCore).
    case replicateKey = "ReplicateKey", updatePrimaryRegion = "UpdatePrimaryRegion"
    case createCustomKeyStore = "CreateCustomKeyStore", connectCustomKeyStore = "ConnectCustomKeyStore"
    case describeCustomKeyStores = "DescribeCustomKeyStores", updateCustomKeyStore = "UpdateCustomKeyStore"
    case disconnectCustomKeyStore = "DisconnectCustomKeyStore", deleteCustomKeyStore = "DeleteCustomKeyStore"

    /// Operations that use key material (refused unless the key is Enabled).
    /// The `X-Amz-Target` that names it: `TrentService.<Operation>`.
    public var target: String { "TrentService." + rawValue }

    public var isCryptographic: Bool {
        switch self {
        case .encrypt, .decrypt, .reEncrypt, .generateDataKey, .generateDataKeyWithoutPlaintext,
             .generateDataKeyPair, .generateDataKeyPairWithoutPlaintext, .getPublicKey, .sign, .verify,
             .generateMac, .verifyMac, .deriveSharedSecret:
            true
        default:
            false
        }
    }

    /// The policy action names (`kms:<Name>`). As in AWS, ReEncrypt is
    /// authorised as ReEncryptFrom on the source key and ReEncryptTo on the
    /// destination; there is no `kms:ReEncrypt` action.
    public static let policyActions: [String] = allCases.flatMap { op -> [String] in
        op == .reEncrypt ? ["kms:ReEncryptFrom", "kms:ReEncryptTo"] : ["kms:" + op.rawValue]
    }
}
