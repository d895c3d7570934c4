import ArgumentParser
import Foundation
import KMSModel

extension KeyAgreementAlgorithm: ExpressibleByArgument {}

struct KMSDeriveSharedSecret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "derive-shared-secret",
        abstract: "ECDH with a KEY_AGREEMENT key inside the HSM and a peer's public key (DeriveSharedSecret).",
        discussion: "Prints the raw shared secret (base64, as aws kms does); derive keys from it with a KDF such as HKDF. "
            + "The peer key is a DER SubjectPublicKeyInfo on the key's curve, e.g. fileb://peer.der.")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: KMSHelp.values("The key agreement algorithm (ECDH, the only one).", KeyAgreementAlgorithm.self))
    var keyAgreementAlgorithm: KeyAgreementAlgorithm = .ecdh
    @Option(help: ArgumentHelp(KMSHelp.blob("The peer's public key, DER SubjectPublicKeyInfo"))) var publicKey: String
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = DeriveSharedSecretRequest(keyId: keyId, keyAgreementAlgorithm: keyAgreementAlgorithm,
                                                publicKey: try KMSInput.blob(publicKey, option: "--public-key"))
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.deriveSharedSecret) { try await $0.deriveSharedSecret(request) }
    }
}

struct KMSGetKeyLastUsage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-key-last-usage",
        abstract: "Show a key's last successful cryptographic use (GetKeyLastUsage).",
        discussion: "KmsRequestId is the request id of that use's audit line. No KeyLastUsage means no use since "
            + "TrackingStartDate.")
    @Option(help: "The key: key ID or key ARN (not an alias).") var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.getKeyLastUsage) { try await $0.getKeyLastUsage(GetKeyLastUsageRequest(keyId: keyId)) }
    }
}
