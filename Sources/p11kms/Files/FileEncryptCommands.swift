import ArgumentParser
import Foundation
import KMSClient

/// `p11kms encrypt-file`: envelope encryption of a file or stdin.
struct EncryptFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt-file",
        abstract: "Encrypt a file (or stdin) under a KMS key with envelope encryption.",
        discussion: """
            A fresh AES-256 data key comes from GenerateDataKey under --key-id; the data is encrypted
            locally with AES-256-GCM in frames, and the encrypted data key travels in the envelope's
            header (the format is described in KMSClient's EnvelopeEncryption). INPUT and OUTPUT may be
            '-' for stdin and stdout. An OUTPUT file appears only once complete (it is written to a
            temporary file beside it and renamed). On failure the exit status is 1 and the reason is
            on stderr. A progress bar is drawn on stderr for regular files over 8 MiB when stderr is
            a terminal.
            """)

    @Option(help: ArgumentHelp("The KMS key: id, ARN, alias or alias ARN (a SYMMETRIC_DEFAULT key).", valueName: "key"))
    var keyId: String
    @Option(help: ArgumentHelp("Encryption context bound to the data key; decryption must give the same.",
                               valueName: "k=v,..."))
    var encryptionContext: String?
    @Option(help: ArgumentHelp("Plaintext bytes per frame, 1 ... 16777216.", valueName: "bytes"))
    var frameSize = EnvelopeEncryption.defaultFrameSize
    @Flag(help: "No progress bar (drawn on stderr when it is a terminal and INPUT is a file over 64 MiB).")
    var noProgress = false
    @OptionGroup var socketOptions: FileSocketOptions
    @Argument(help: "The plaintext file, or - for stdin.") var input: String
    @Argument(help: "The envelope to write, or - for stdout.") var output: String

    func validate() throws {
        guard (1...(16 << 20)).contains(frameSize) else { throw ValidationError("--frame-size must be 1 ... 16777216") }
        _ = try fileParseEncryptionContext(encryptionContext)
        if input != "-" && input == output { throw ValidationError("INPUT and OUTPUT are the same file") }
    }

    func run() async throws {
        let context = try fileParseEncryptionContext(encryptionContext)
        let client: KMSClient
        do { client = try socketOptions.client() } catch {
            fileWriteStderr("p11kms encrypt-file: \(fileErrorMessage(error))\n")
            throw ExitCode(1)
        }
        let envelope = EnvelopeEncryption(client: client, keyId: keyId, encryptionContext: context, frameSize: frameSize)
        do {
            try await runEnvelopeCommand(name: "encrypt-file", input: input, output: output, progress: !noProgress) { input, output in
                try await envelope.encrypt(from: &input, to: &output)
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }
}

/// `p11kms decrypt-file`: opens an envelope made by encrypt-file.
struct DecryptFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt-file",
        abstract: "Decrypt an envelope made by encrypt-file (or EnvelopeEncryption).",
        discussion: """
            One Decrypt call recovers the data key; every frame is then verified before its plaintext
            is written. INPUT and OUTPUT may be '-' for stdin and stdout. An OUTPUT file appears only
            when the whole envelope verified: on any failure (altered or truncated envelope, another
            encryption context, a key the caller may not use) no file is left behind, the reason is on
            stderr and the exit status is 1. When OUTPUT is '-', verified frames are streamed as they
            arrive: a reader of stdout must discard everything it received unless the exit status is 0.
            """)

    @Option(help: ArgumentHelp("The encryption context the envelope was made with.", valueName: "k=v,..."))
    var encryptionContext: String?
    @Option(help: ArgumentHelp("Accept only envelopes whose data key was made under this key (recommended: "
                                   + "without it, any key you may use is accepted, with a warning).", valueName: "key"))
    var keyId: String?
    @Flag(help: "No progress bar (drawn on stderr when it is a terminal and INPUT is a file over 64 MiB).")
    var noProgress = false
    @OptionGroup var socketOptions: FileSocketOptions
    @Argument(help: "The envelope, or - for stdin.") var input: String
    @Argument(help: "The plaintext file to write, or - for stdout.") var output: String

    func validate() throws {
        _ = try fileParseEncryptionContext(encryptionContext)
        if input != "-" && input == output { throw ValidationError("INPUT and OUTPUT are the same file") }
    }

    func run() async throws {
        let context = try fileParseEncryptionContext(encryptionContext)
        let client: KMSClient
        do { client = try socketOptions.client() } catch {
            fileWriteStderr("p11kms decrypt-file: \(fileErrorMessage(error))\n")
            throw ExitCode(1)
        }
        let keyId = self.keyId
        if keyId == nil {
            // Whoever can write the envelope can make one under any key the
            // caller may use, with data of their choosing; --key-id pins it.
            fileWriteStderr("p11kms decrypt-file: warning: no --key-id given, so an envelope made under any key you may "
                + "use is accepted; give --key-id to accept only the key you expect\n")
        }
        do {
            try await runEnvelopeCommand(name: "decrypt-file", input: input, output: output, progress: !noProgress) { input, output in
                try await EnvelopeEncryption.decrypt(client: client, from: &input, to: &output,
                                                     encryptionContext: context, keyId: keyId)
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }
}
