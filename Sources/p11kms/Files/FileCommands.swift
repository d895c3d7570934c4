import ArgumentParser

/// encrypt-file / decrypt-file (envelope encryption) and status.
enum FileCommands {
    static let all: [any ParsableCommand.Type] = [EncryptFileCommand.self, DecryptFileCommand.self, StatusCommand.self]
}
