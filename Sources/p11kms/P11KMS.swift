import ArgumentParser

@main
struct P11KMS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "p11kms",
        abstract: "Key management on a PKCS#11 hardware security module.",
        discussion: """
            Token administration talks to the PKCS#11 module directly, in the spirit of
            pkcs11-tool and softhsm2-util. The KMS operations through the daemon arrive
            with p11kmsd.
            """,
        subcommands: KMSCommands.all + FileCommands.all + [TokenCommand.self, AuditCommand.self])
}
