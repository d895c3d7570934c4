import ArgumentParser
import Foundation
import KMSModel

@main
struct P11KMS: AsyncParsableCommand {
    /// Usage errors exit 2 (as the aws CLI does), service and other errors 1,
    /// instead of ArgumentParser's EX_USAGE (64) for the former.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "p11kms",
        abstract: "Key management on a PKCS#11 hardware security module.",
        // One line per paragraph (the trailing backslashes): ArgumentParser and
        // the man page wrap paragraphs to the terminal, but keep every newline.
        discussion: """
            KMS subcommands (create-key, encrypt, ...) mirror `aws kms` and talk to p11kmsd over its \
            socket (--socket, $P11KMS_SOCKET, ./.p11kms-dev/p11kms.sock, /run/p11kms/p11kms.sock). \
            encrypt-file and decrypt-file do envelope encryption of files and streams. Token \
            administration talks to the PKCS#11 module directly, in the spirit of pkcs11-tool and \
            softhsm2-util.

            Exit status: 0 success, 1 error from the service or the token, 2 usage error.

            Shell completion: 'p11kms --generate-completion-script bash' (or zsh, fish) prints a \
            completion script; the Debian package installs them.
            """,
        version: P11KMSRelease.version,
        subcommands: KMSCommands.all + FileCommands.all + [TokenCommand.self, AuditCommand.self, MetadataCommand.self,
                                                                 ReportCommand.self, KeyCommand.self])
}
