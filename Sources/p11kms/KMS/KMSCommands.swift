import ArgumentParser

/// The aws-kms-style subcommands (create-key, encrypt, ...), talking to the daemon.
enum KMSCommands {
    static let all: [any ParsableCommand.Type] = []
}
