import ArgumentParser
import Foundation
import KMSClient

struct MetadataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata",
        abstract: "Act on findings of the daemon's metadata integrity checks.",
        subcommands: [AcknowledgeRollback.self])

    struct AcknowledgeRollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "acknowledge-rollback",
            abstract: "Accept the metadata store as it is after the daemon held keys whose rows are older than the token records (admins only; audited).",
            discussion: """
                Every change to the metadata store is also recorded in a token object (the metadata anchor). At \
                start-up, rows that no longer match it, because a row or the whole database was put back from an \
                earlier moment, make their keys (and the keys that share their bucket) refuse service with \
                KMSInvalidStateException; /health and `p11kms status` list them. Find out what happened first: \
                if the current database is the right one (say, a restore after a disk loss, accepting that \
                changes since the backup are undone), this command records your uid in the audit log and makes \
                the anchor describe the store as it is. The held keys serve again after p11kmsd restarts. If it is \
                not, restore the right database instead and restart. Exit status 0: accepted, or nothing to \
                accept; 1: refused or failed.
                """)

        @OptionGroup var socketOptions: FileSocketOptions

        func run() async throws {
            let name = "p11kms metadata acknowledge-rollback"
            let client: KMSClient
            do { client = try socketOptions.client() } catch {
                fileWriteStderr("\(name): \(fileErrorMessage(error))\n")
                throw ExitCode(1)
            }
            defer { Task { try? await client.shutdown() } }
            do {
                if let keys = try await client.acknowledgeMetadataRollback() {
                    print("accepted the metadata of \(keys.count) keys; restart p11kmsd to serve them: \(keys.joined(separator: " "))")
                } else {
                    print("no key is held by the metadata check; nothing to acknowledge")
                }
            } catch {
                fileWriteStderr("\(name): \(fileErrorMessage(error))\n")
                throw ExitCode(1)
            }
        }
    }
}
