import ArgumentParser
import Foundation
import KMSClient
import KMSModel

// MARK: Encryption

struct KMSEncrypt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt", abstract: "Encrypt up to 4 KiB under a key (Encrypt).",
        discussion: "The ciphertext is base64 in the output; to keep it as a binary file: "
            + "--query CiphertextBlob --output text | base64 -d > FILE.")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: ArgumentHelp(KMSHelp.blob("The plaintext"))) var plaintext: String
    @Option(help: ArgumentHelp(KMSHelp.context)) var encryptionContext: String?
    @Option(help: KMSHelp.values("The algorithm (default SYMMETRIC_DEFAULT).", EncryptionAlgorithm.self))
    var encryptionAlgorithm: EncryptionAlgorithm?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = EncryptRequest(
            keyId: keyId, plaintext: try KMSInput.blob(plaintext, option: "--plaintext"),
            encryptionContext: try KMSInput.map(encryptionContext, option: "--encryption-context"),
            encryptionAlgorithm: encryptionAlgorithm)
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.encrypt) { try await $0.encrypt(request) }
    }
}

struct KMSDecrypt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt", abstract: "Decrypt a ciphertext blob (Decrypt).",
        discussion: "The plaintext is base64 in the output; to get the bytes: --query Plaintext --output text | base64 -d.")
    @Option(help: ArgumentHelp(KMSHelp.blob("The ciphertext"))) var ciphertextBlob: String
    @Option(help: ArgumentHelp(KMSHelp.context)) var encryptionContext: String?
    @Option(help: ArgumentHelp(KMSHelp.keyId + " Required for asymmetric keys; for symmetric ones, a check."))
    var keyId: String?
    @Option(help: KMSHelp.values("The algorithm (default SYMMETRIC_DEFAULT).", EncryptionAlgorithm.self))
    var encryptionAlgorithm: EncryptionAlgorithm?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = DecryptRequest(
            ciphertextBlob: try KMSInput.blob(ciphertextBlob, option: "--ciphertext-blob"),
            encryptionContext: try KMSInput.map(encryptionContext, option: "--encryption-context"),
            keyId: keyId,
            encryptionAlgorithm: encryptionAlgorithm)
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.decrypt) { try await $0.decrypt(request) }
    }
}

struct KMSReEncrypt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "re-encrypt", abstract: "Decrypt and encrypt again under another key, inside the service (ReEncrypt).")
    @Option(help: ArgumentHelp(KMSHelp.blob("The ciphertext"))) var ciphertextBlob: String
    @Option(help: ArgumentHelp("The encryption context it was encrypted with: k=v,k2=v2 or JSON."))
    var sourceEncryptionContext: String?
    @Option(help: ArgumentHelp("The key it was encrypted under (required for asymmetric keys).")) var sourceKeyId: String?
    @Option(help: ArgumentHelp("The key to encrypt under: " + KMSHelp.keyId)) var destinationKeyId: String
    @Option(help: ArgumentHelp("The new encryption context: k=v,k2=v2 or JSON.")) var destinationEncryptionContext: String?
    @Option(help: KMSHelp.values("The source algorithm.", EncryptionAlgorithm.self)) var sourceEncryptionAlgorithm: EncryptionAlgorithm?
    @Option(help: KMSHelp.values("The destination algorithm.", EncryptionAlgorithm.self))
    var destinationEncryptionAlgorithm: EncryptionAlgorithm?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = ReEncryptRequest(
            ciphertextBlob: try KMSInput.blob(ciphertextBlob, option: "--ciphertext-blob"),
            destinationKeyId: destinationKeyId,
            sourceEncryptionContext: try KMSInput.map(sourceEncryptionContext, option: "--source-encryption-context"),
            destinationEncryptionContext: try KMSInput.map(destinationEncryptionContext,
                                                           option: "--destination-encryption-context"),
            sourceKeyId: sourceKeyId,
            sourceEncryptionAlgorithm: sourceEncryptionAlgorithm,
            destinationEncryptionAlgorithm: destinationEncryptionAlgorithm)
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.reEncrypt) { try await $0.reEncrypt(request) }
    }
}

// MARK: Data keys

struct KMSGenerateDataKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-data-key", abstract: "Make a data key, in plaintext and encrypted (GenerateDataKey).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: KMSHelp.values("The data key's length; or give --number-of-bytes.", DataKeySpec.self)) var keySpec: DataKeySpec?
    @Option(help: "The data key's length in bytes (1-1024).") var numberOfBytes: Int?
    @Option(help: ArgumentHelp(KMSHelp.context)) var encryptionContext: String?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = GenerateDataKeyRequest(
            keyId: keyId, keySpec: keySpec, numberOfBytes: numberOfBytes,
            encryptionContext: try KMSInput.map(encryptionContext, option: "--encryption-context"))
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.generateDataKey) { try await $0.generateDataKey(request) }
    }
}

struct KMSGenerateDataKeyWithoutPlaintext: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-data-key-without-plaintext",
        abstract: "Make a data key, encrypted only (GenerateDataKeyWithoutPlaintext).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: KMSHelp.values("The data key's length; or give --number-of-bytes.", DataKeySpec.self)) var keySpec: DataKeySpec?
    @Option(help: "The data key's length in bytes (1-1024).") var numberOfBytes: Int?
    @Option(help: ArgumentHelp(KMSHelp.context)) var encryptionContext: String?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = GenerateDataKeyRequest(
            keyId: keyId, keySpec: keySpec, numberOfBytes: numberOfBytes,
            encryptionContext: try KMSInput.map(encryptionContext, option: "--encryption-context"))
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.generateDataKeyWithoutPlaintext) { try await $0.generateDataKeyWithoutPlaintext(request) }
    }
}

struct KMSGenerateDataKeyPair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-data-key-pair",
        abstract: "Make a key pair: public key, private key in plaintext and encrypted (GenerateDataKeyPair).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: KMSHelp.values("The key pair's type.", DataKeyPairSpec.self)) var keyPairSpec: DataKeyPairSpec
    @Option(help: ArgumentHelp(KMSHelp.context)) var encryptionContext: String?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = GenerateDataKeyPairRequest(
            keyId: keyId, keyPairSpec: keyPairSpec,
            encryptionContext: try KMSInput.map(encryptionContext, option: "--encryption-context"))
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.generateDataKeyPair) { try await $0.generateDataKeyPair(request) }
    }
}

struct KMSGenerateDataKeyPairWithoutPlaintext: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-data-key-pair-without-plaintext",
        abstract: "Make a key pair: public key and encrypted private key (GenerateDataKeyPairWithoutPlaintext).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: KMSHelp.values("The key pair's type.", DataKeyPairSpec.self)) var keyPairSpec: DataKeyPairSpec
    @Option(help: ArgumentHelp(KMSHelp.context)) var encryptionContext: String?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = GenerateDataKeyPairRequest(
            keyId: keyId, keyPairSpec: keyPairSpec,
            encryptionContext: try KMSInput.map(encryptionContext, option: "--encryption-context"))
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.generateDataKeyPairWithoutPlaintext) { try await $0.generateDataKeyPairWithoutPlaintext(request) }
    }
}

// MARK: Signing

struct KMSGetPublicKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-public-key", abstract: "Show an asymmetric key's public key, DER SubjectPublicKeyInfo (GetPublicKey).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @OptionGroup var grants: KMSGrantTokens
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.getPublicKey) { var request = KeyIdRequest(keyId: keyId)
            request.grantTokens = grants.tokens
            return try await $0.getPublicKey(request) }
    }
}

struct KMSSign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign a message or digest (Sign).",
        discussion: "The signature is base64 in the output; to keep it as a binary file: "
            + "--query Signature --output text | base64 -d > FILE.")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: ArgumentHelp(KMSHelp.blob("The message (up to 4 KiB) or digest"))) var message: String
    @Option(help: KMSHelp.values("RAW (default) or DIGEST.", MessageType.self)) var messageType: MessageType?
    @Option(help: KMSHelp.values("The signing algorithm.", SigningAlgorithm.self)) var signingAlgorithm: SigningAlgorithm
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = SignRequest(
            keyId: keyId, message: try KMSInput.blob(message, option: "--message"),
            messageType: messageType,
            signingAlgorithm: signingAlgorithm)
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.sign) { try await $0.sign(request) }
    }
}

struct KMSVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Verify a signature (Verify).",
        discussion: "A signature that does not verify is KMSInvalidSignatureException (exit 1).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: ArgumentHelp(KMSHelp.blob("The message or digest"))) var message: String
    @Option(help: KMSHelp.values("RAW (default) or DIGEST.", MessageType.self)) var messageType: MessageType?
    @Option(help: ArgumentHelp(KMSHelp.blob("The signature"))) var signature: String
    @Option(help: KMSHelp.values("The signing algorithm.", SigningAlgorithm.self)) var signingAlgorithm: SigningAlgorithm
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = VerifyRequest(
            keyId: keyId, message: try KMSInput.blob(message, option: "--message"),
            messageType: messageType,
            signature: try KMSInput.blob(signature, option: "--signature"),
            signingAlgorithm: signingAlgorithm)
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.verify) { try await $0.verify(request) }
    }
}

// MARK: MACs and random bytes

struct KMSGenerateMac: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate-mac", abstract: "Compute an HMAC with an HMAC key (GenerateMac).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: ArgumentHelp(KMSHelp.blob("The message (up to 4 KiB)"))) var message: String
    @Option(help: KMSHelp.values("The MAC algorithm.", MacAlgorithm.self)) var macAlgorithm: MacAlgorithm
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = GenerateMacRequest(keyId: keyId, message: try KMSInput.blob(message, option: "--message"),
                                         macAlgorithm: macAlgorithm)
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.generateMac) { try await $0.generateMac(request) }
    }
}

struct KMSVerifyMac: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-mac", abstract: "Check an HMAC (VerifyMac).",
        discussion: "A MAC that does not verify is KMSInvalidMacException (exit 1).")
    @Option(help: ArgumentHelp(KMSHelp.keyId)) var keyId: String
    @Option(help: ArgumentHelp(KMSHelp.blob("The message"))) var message: String
    @Option(help: KMSHelp.values("The MAC algorithm.", MacAlgorithm.self)) var macAlgorithm: MacAlgorithm
    @Option(help: ArgumentHelp(KMSHelp.blob("The MAC"))) var mac: String
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var request = VerifyMacRequest(keyId: keyId, message: try KMSInput.blob(message, option: "--message"),
                                       macAlgorithm: macAlgorithm,
                                       mac: try KMSInput.blob(mac, option: "--mac"))
        request.grantTokens = permission.tokens
        request.dryRun = permission.dryRunValue
        try await kms.call(.verifyMac) { try await $0.verifyMac(request) }
    }
}

struct KMSGenerateRandom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-random", abstract: "Random bytes from the HSM (GenerateRandom).")
    @Option(help: "How many bytes (1-1024).") var numberOfBytes: Int
    @Option(help: "Draw them from this custom key store's token (it must be connected).") var customKeyStoreId: String?
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = GenerateRandomRequest(numberOfBytes: numberOfBytes, customKeyStoreId: customKeyStoreId)
        try await kms.call(.generateRandom) { try await $0.generateRandom(request) }
    }
}

// MARK: Key import

struct KMSGetParametersForImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-parameters-for-import",
        abstract: "Get a wrapping public key and import token for an EXTERNAL key (GetParametersForImport).")
    @Option(help: "The key: key ID or key ARN.") var keyId: String
    @Option(help: KMSHelp.values("How the key material will be wrapped.", WrappingAlgorithm.self)) var wrappingAlgorithm: WrappingAlgorithm
    @Option(help: KMSHelp.values("The wrapping key's type.", WrappingKeySpec.self)) var wrappingKeySpec: WrappingKeySpec
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = GetParametersForImportRequest(
            keyId: keyId, wrappingAlgorithm: wrappingAlgorithm,
            wrappingKeySpec: wrappingKeySpec)
        try await kms.call(.getParametersForImport) { try await $0.getParametersForImport(request) }
    }
}

struct KMSImportKeyMaterial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-key-material", abstract: "Import wrapped key material into an EXTERNAL key (ImportKeyMaterial).")
    @Option(help: "The key: key ID or key ARN.") var keyId: String
    @Option(help: ArgumentHelp(KMSHelp.blob("The import token from get-parameters-for-import"))) var importToken: String
    @Option(help: ArgumentHelp(KMSHelp.blob("The wrapped key material"))) var encryptedKeyMaterial: String
    @Option(help: "When the material expires: ISO 8601 or epoch seconds (needs KEY_MATERIAL_EXPIRES).") var validTo: String?
    @Option(help: KMSHelp.values("Whether the material expires.", ExpirationModel.self)) var expirationModel: ExpirationModel?
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = ImportKeyMaterialRequest(
            keyId: keyId, importToken: try KMSInput.blob(importToken, option: "--import-token"),
            encryptedKeyMaterial: try KMSInput.blob(encryptedKeyMaterial, option: "--encrypted-key-material"),
            validTo: try KMSInput.date(validTo, option: "--valid-to"),
            expirationModel: expirationModel)
        try await kms.call(.importKeyMaterial) { try await $0.importKeyMaterial(request) }
    }
}

struct KMSDeleteImportedKeyMaterial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-imported-key-material",
        abstract: "Delete an EXTERNAL key's imported material; it becomes PendingImport (DeleteImportedKeyMaterial).")
    @Option(help: "The key: key ID or key ARN.") var keyId: String
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        try await kms.call(.deleteImportedKeyMaterial) { try await $0.deleteImportedKeyMaterial(KeyIdRequest(keyId: keyId)) }
    }
}
