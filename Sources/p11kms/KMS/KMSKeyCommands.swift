import ArgumentParser
import Foundation
import KMSClient
import KMSModel

extension KMSHelp {
    /// An enumeration option: ArgumentParser lists the values itself.
    static func values<T: ExpressibleByArgument>(_ what: String, _ type: T.Type) -> ArgumentHelp {
        ArgumentHelp(what, valueName: "value")
    }
}

struct KMSCreateKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-key", abstract: "Create a KMS key (CreateKey).")

    @Option(help: "A description of the key (file://PATH reads it from a file).") var description: String?
    @Option(help: KMSHelp.values("What the key is for (default: from --key-spec).", KeyUsageType.self))
    var keyUsage: KeyUsageType?
    @Option(help: KMSHelp.values("The key type (default SYMMETRIC_DEFAULT).", KeySpec.self)) var keySpec: KeySpec?
    @Option(help: "The key policy, JSON (file://PATH reads it from a file); default: the service's default policy.")
    var policy: String?
    @Flag(help: "Accept a --policy that would lock you out of changing the policy.")
    var bypassPolicyLockoutSafetyCheck = false
    @Option(help: KMSHelp.values("Where the key material comes from: EXTERNAL to import it, AWS_CLOUDHSM with "
                                 + "--custom-key-store-id (default AWS_KMS).", Origin.self))
    var origin: Origin?
    @Option(help: "Create the key in this custom key store (a connected extra token); needs --origin AWS_CLOUDHSM.")
    var customKeyStoreId: String?
    @Option(parsing: .upToNextOption,
            help: "Tags: TagKey=KEY,TagValue=VALUE (several, space-separated or repeated), or a JSON list.")
    var tags: [String] = []
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = CreateKeyRequest(
            policy: try policy.map { try KMSInput.text($0, option: "--policy") },
            description: try description.map { try KMSInput.text($0, option: "--description") },
            keyUsage: keyUsage,
            keySpec: keySpec,
            origin: origin,
            tags: try KMSInput.tags(tags))
        if bypassPolicyLockoutSafetyCheck { request.bypassPolicyLockoutSafetyCheck = true }
        request.customKeyStoreId = customKeyStoreId
        try await kms.call(.createKey) { try await $0.createKey(request) }
    }
}

struct KMSDescribeKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe-key", abstract: "Show a key's metadata (DescribeKey).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var grants: KMSGrantTokens
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = KeyIdRequest(keyId: keyId)
        request.grantTokens = grants.tokens
        try await kms.call(.describeKey) { try await $0.describeKey(request) }
    }
}

struct KMSListKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-keys", abstract: "List the keys (ListKeys), every page unless --no-paginate.",
        discussion: "As with aws: all pages are joined; --max-items stops early with a NextToken for --starting-token; "
            + "--limit or --marker (or --no-paginate) make one call and print its NextMarker and Truncated.")
    @Option(help: "The most keys to return (1-1000; default 100).") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callPaginated(.listKeys, items: "Keys", paging: paging, limit: limit, marker: marker) {
            try await $0.listKeys(ListKeysRequest(limit: $1, marker: $2))
        }
    }
}

struct KMSUpdateKeyDescription: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-key-description", abstract: "Change a key's description (UpdateKeyDescription).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "The new description (file://PATH reads it from a file).") var description: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let text = try KMSInput.text(description, option: "--description")
        try await kms.callEmpty(.updateKeyDescription) {
            try await $0.updateKeyDescription(UpdateKeyDescriptionRequest(keyId: keyId, description: text))
        }
    }
}

struct KMSEnableKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enable-key", abstract: "Enable a key (EnableKey).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.enableKey) { try await $0.enableKey(KeyIdRequest(keyId: keyId)) }
    }
}

struct KMSDisableKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disable-key", abstract: "Disable a key (DisableKey).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.disableKey) { try await $0.disableKey(KeyIdRequest(keyId: keyId)) }
    }
}

struct KMSScheduleKeyDeletion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule-key-deletion", abstract: "Schedule a key's deletion (ScheduleKeyDeletion).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "Days until the key is deleted (7-30; default 30).") var pendingWindowInDays: Int?
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.scheduleKeyDeletion) {
            try await $0.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: keyId, pendingWindowInDays: pendingWindowInDays))
        }
    }
}

struct KMSCancelKeyDeletion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel-key-deletion", abstract: "Cancel a scheduled deletion; the key comes back disabled (CancelKeyDeletion).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.cancelKeyDeletion) { try await $0.cancelKeyDeletion(KeyIdRequest(keyId: keyId)) }
    }
}

// MARK: Aliases

struct KMSCreateAlias: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create-alias", abstract: "Create an alias for a key (CreateAlias).")
    @Option(help: "The alias name, alias/NAME.") var aliasName: String
    @Option(help: "The key: key ID or key ARN.") var targetKeyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.createAlias) {
            try await $0.createAlias(AliasRequest(aliasName: aliasName, targetKeyId: targetKeyId))
        }
    }
}

struct KMSUpdateAlias: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update-alias", abstract: "Point an alias at another key (UpdateAlias).")
    @Option(help: "The alias name, alias/NAME.") var aliasName: String
    @Option(help: "The new key: key ID or key ARN.") var targetKeyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.updateAlias) {
            try await $0.updateAlias(AliasRequest(aliasName: aliasName, targetKeyId: targetKeyId))
        }
    }
}

struct KMSDeleteAlias: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete-alias", abstract: "Delete an alias (DeleteAlias).")
    @Option(help: "The alias name, alias/NAME.") var aliasName: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.deleteAlias) { try await $0.deleteAlias(AliasRequest(aliasName: aliasName)) }
    }
}

struct KMSListAliases: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-aliases", abstract: "List aliases (ListAliases), every page unless --no-paginate.",
        discussion: "As with aws: all pages are joined; --max-items stops early with a NextToken for --starting-token; "
            + "--limit or --marker (or --no-paginate) make one call and print its NextMarker and Truncated.")
    @Option(help: "Only the aliases of this key (key ID or key ARN).") var keyId: String?
    @Option(help: "The most aliases to return (1-1000; default 100).") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let keyId = self.keyId
        try await kms.callPaginated(.listAliases, items: "Aliases", paging: paging, limit: limit, marker: marker) {
            try await $0.listAliases(ListAliasesRequest(keyId: keyId, limit: $1, marker: $2))
        }
    }
}

// MARK: Tags

struct KMSTagResource: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tag-resource", abstract: "Add or replace tags of a key (TagResource).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(parsing: .upToNextOption,
            help: "Tags: TagKey=KEY,TagValue=VALUE (several, space-separated or repeated), or a JSON list.")
    var tags: [String]
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let parsed = try KMSInput.tags(tags)
        try await kms.callEmpty(.tagResource) { try await $0.tagResource(TagResourceRequest(keyId: keyId, tags: parsed)) }
    }
}

struct KMSUntagResource: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "untag-resource", abstract: "Remove tags from a key (UntagResource).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(parsing: .upToNextOption, help: "The tag keys to remove (several, space-separated or repeated).")
    var tagKeys: [String]
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.untagResource) {
            try await $0.untagResource(UntagResourceRequest(keyId: keyId, tagKeys: tagKeys))
        }
    }
}

struct KMSListResourceTags: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-resource-tags", abstract: "List a key's tags (ListResourceTags).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "The most tags to return.") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let keyId = self.keyId
        try await kms.callPaginated(.listResourceTags, items: "Tags", paging: paging, limit: limit, marker: marker) {
            try await $0.listResourceTags(ListResourceTagsRequest(keyId: keyId, limit: $1, marker: $2))
        }
    }
}

// MARK: Key policies

struct KMSGetKeyPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-key-policy", abstract: "Show a key's policy (GetKeyPolicy).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "The policy name; the only one is `default`.") var policyName = "default"
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.getKeyPolicy) {
            try await $0.getKeyPolicy(GetKeyPolicyRequest(keyId: keyId, policyName: policyName))
        }
    }
}

struct KMSPutKeyPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put-key-policy", abstract: "Replace a key's policy (PutKeyPolicy).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "The policy name; the only one is `default`.") var policyName = "default"
    @Option(help: "The policy document, JSON (file://PATH reads it from a file).") var policy: String
    @Flag(help: "Accept a policy that would lock you out of changing the policy.")
    var bypassPolicyLockoutSafetyCheck = false
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let document = try KMSInput.text(policy, option: "--policy")
        let request = PutKeyPolicyRequest(keyId: keyId, policy: document, policyName: policyName,
                                          bypassPolicyLockoutSafetyCheck: bypassPolicyLockoutSafetyCheck ? true : nil)
        try await kms.callEmpty(.putKeyPolicy) { try await $0.putKeyPolicy(request) }
    }
}

struct KMSListKeyPolicies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-key-policies", abstract: "List a key's policy names (ListKeyPolicies).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "The most names to return.") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let keyId = self.keyId
        try await kms.callPaginated(.listKeyPolicies, items: "PolicyNames", paging: paging, limit: limit, marker: marker) {
            try await $0.listKeyPolicies(ListResourceTagsRequest(keyId: keyId, limit: $1, marker: $2))
        }
    }
}

// MARK: Rotation

struct KMSEnableKeyRotation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enable-key-rotation", abstract: "Turn on automatic rotation (EnableKeyRotation).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "Days between rotations (90-2560, or from the daemon's [rotation] min_period_days; default 365).")
    var rotationPeriodInDays: Int?
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.enableKeyRotation) {
            try await $0.enableKeyRotation(EnableKeyRotationRequest(keyId: keyId, rotationPeriodInDays: rotationPeriodInDays))
        }
    }
}

struct KMSDisableKeyRotation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disable-key-rotation", abstract: "Turn off automatic rotation (DisableKeyRotation).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.callEmpty(.disableKeyRotation) { try await $0.disableKeyRotation(KeyIdRequest(keyId: keyId)) }
    }
}

struct KMSGetKeyRotationStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-key-rotation-status", abstract: "Show whether a key rotates automatically (GetKeyRotationStatus).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.getKeyRotationStatus) { try await $0.getKeyRotationStatus(KeyIdRequest(keyId: keyId)) }
    }
}

struct KMSRotateKeyOnDemand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rotate-key-on-demand", abstract: "Rotate a key's material now (RotateKeyOnDemand).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.rotateKeyOnDemand) { try await $0.rotateKeyOnDemand(KeyIdRequest(keyId: keyId)) }
    }
}

struct KMSListKeyRotations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-key-rotations", abstract: "List a key's rotations (ListKeyRotations).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: "ALL_KEY_MATERIAL or ROTATIONS_ONLY.") var includeKeyMaterial: String?
    @Option(help: "The most rotations to return.") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let (keyId, includeKeyMaterial) = (self.keyId, self.includeKeyMaterial)
        try await kms.callPaginated(.listKeyRotations, items: "Rotations", paging: paging, limit: limit, marker: marker) {
            try await $0.listKeyRotations(ListKeyRotationsRequest(keyId: keyId, includeKeyMaterial: includeKeyMaterial,
                                                                  limit: $1, marker: $2))
        }
    }
}
