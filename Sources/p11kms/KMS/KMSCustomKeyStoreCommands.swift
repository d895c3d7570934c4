import ArgumentParser
import Foundation
import KMSModel

extension CustomKeyStoreType: ExpressibleByArgument {}

/// Custom key stores: extra PKCS#11 tokens of the daemon's (`[[tokens]]` in
/// its config, `--extra-token` in dev mode) used as AWS_CLOUDHSM key stores.
enum KMSCustomKeyStoreHelp {
    static let cluster = "The token's name in the daemon's [[tokens]] (a CloudHSM cluster id's form, cluster-...)."
    static let password = "The token's user PIN: file://PATH reads it from a file (keep the PIN out of argv and shell history)."
}

struct KMSCreateCustomKeyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-custom-key-store",
        abstract: "Register one of the daemon's extra tokens as a custom key store (CreateCustomKeyStore; admins only).",
        discussion: "Keys made in it (create-key --custom-key-store-id ID --origin AWS_CLOUDHSM) live on that token. "
            + "The daemon keeps the PIN encrypted under its own token and never logs it. Connect it with "
            + "connect-custom-key-store before use.")
    @Option(help: "A name, unique among the custom key stores.") var customKeyStoreName: String
    @Option(help: ArgumentHelp(KMSCustomKeyStoreHelp.cluster)) var cloudHsmClusterId: String?
    @Option(help: ArgumentHelp(KMSCustomKeyStoreHelp.password)) var keyStorePassword: String?
    @Option(help: "Kept and shown by describe-custom-key-stores (AWS requires it for CloudHSM; here it is informational).")
    var trustAnchorCertificate: String?
    @Option(help: KMSHelp.values("The type (AWS_CLOUDHSM; EXTERNAL_KEY_STORE is refused).", CustomKeyStoreType.self))
    var customKeyStoreType: CustomKeyStoreType?
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = CreateCustomKeyStoreRequest(
            customKeyStoreName: customKeyStoreName, cloudHsmClusterId: cloudHsmClusterId,
            trustAnchorCertificate: try trustAnchorCertificate.map { try KMSInput.text($0, option: "--trust-anchor-certificate") },
            keyStorePassword: try keyStorePassword.map {
                try KMSInput.text($0, option: "--key-store-password").trimmingCharacters(in: .newlines)
            },
            customKeyStoreType: customKeyStoreType)
        try await kms.call(.createCustomKeyStore) { try await $0.createCustomKeyStore(request) }
    }
}

struct KMSDescribeCustomKeyStores: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe-custom-key-stores",
        abstract: "Show custom key stores with their ConnectionState (DescribeCustomKeyStores; admins only).")
    @Option(help: "Only this store.") var customKeyStoreId: String?
    @Option(help: "Only the store of this name.") var customKeyStoreName: String?
    @Option(help: "The most stores per page (1-1000; default 100).") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let (id, name) = (customKeyStoreId, customKeyStoreName)
        try await kms.callPaginated(.describeCustomKeyStores, items: "CustomKeyStores", paging: paging, limit: limit,
                                    marker: marker) {
            try await $0.describeCustomKeyStores(DescribeCustomKeyStoresRequest(customKeyStoreId: id, customKeyStoreName: name,
                                                                                limit: $1, marker: $2))
        }
    }
}

struct KMSUpdateCustomKeyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-custom-key-store",
        abstract: "Rename a custom key store, or give it a new PIN or token while disconnected (UpdateCustomKeyStore).")
    @Option(help: "The store.") var customKeyStoreId: String
    @Option(help: "Its new name (allowed while connected).") var newCustomKeyStoreName: String?
    @Option(help: ArgumentHelp(KMSCustomKeyStoreHelp.password)) var keyStorePassword: String?
    @Option(help: ArgumentHelp(KMSCustomKeyStoreHelp.cluster)) var cloudHsmClusterId: String?
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = UpdateCustomKeyStoreRequest(
            customKeyStoreId: customKeyStoreId, newCustomKeyStoreName: newCustomKeyStoreName,
            keyStorePassword: try keyStorePassword.map {
                try KMSInput.text($0, option: "--key-store-password").trimmingCharacters(in: .newlines)
            },
            cloudHsmClusterId: cloudHsmClusterId)
        try await kms.call(.updateCustomKeyStore) { try await $0.updateCustomKeyStore(request) }
    }
}

struct KMSDeleteCustomKeyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-custom-key-store",
        abstract: "Forget a disconnected custom key store that holds no keys (DeleteCustomKeyStore).")
    @Option(help: "The store.") var customKeyStoreId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = CustomKeyStoreIdRequest(customKeyStoreId: customKeyStoreId)
        try await kms.call(.deleteCustomKeyStore) { try await $0.deleteCustomKeyStore(request) }
    }
}

struct KMSConnectCustomKeyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect-custom-key-store",
        abstract: "Log in to a custom key store's token (ConnectCustomKeyStore); describe-custom-key-stores tells how it went.")
    @Option(help: "The store.") var customKeyStoreId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = CustomKeyStoreIdRequest(customKeyStoreId: customKeyStoreId)
        try await kms.call(.connectCustomKeyStore) { try await $0.connectCustomKeyStore(request) }
    }
}

struct KMSDisconnectCustomKeyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect-custom-key-store",
        abstract: "Close a custom key store's sessions; its keys refuse use until reconnected (DisconnectCustomKeyStore).")
    @Option(help: "The store.") var customKeyStoreId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = CustomKeyStoreIdRequest(customKeyStoreId: customKeyStoreId)
        try await kms.call(.disconnectCustomKeyStore) { try await $0.disconnectCustomKeyStore(request) }
    }
}
