import Foundation
import Testing

/// The custom key store subcommands against a dev daemon with a second token.
@Suite("p11kms custom key store commands", .serialized)
struct CustomKeyStoreCommandTests {
    static let cluster = "cluster-clitestsecond"

    @Test func aSecondTokenFromTheCommandLine() async throws {
        try await withKMSCLIDaemon(arguments: ["--extra-token", Self.cluster]) { d in
            let pinFile = d.stateDirectory + "/\(Self.cluster).user-pin"
            let created = try await d.p11kms("create-custom-key-store", "--custom-key-store-name", "cli",
                                             "--cloud-hsm-cluster-id", Self.cluster, "--key-store-password", "file://" + pinFile)
            #expect(created.status == 0, "\(created.stderr)")
            let id = try #require(created.json["CustomKeyStoreId"] as? String)
            #expect(try await d.p11kms("connect-custom-key-store", "--custom-key-store-id", id).status == 0)
            let state = try await d.p11kms("describe-custom-key-stores", "--query", "CustomKeyStores[].[CustomKeyStoreName,ConnectionState]",
                                           "--output", "text")
            #expect(state.stdout == "cli\tCONNECTED\n", "\(state.stdout)\(state.stderr)")

            let key = try await d.p11kms("create-key", "--custom-key-store-id", id, "--origin", "AWS_CLOUDHSM",
                                         "--query", "KeyMetadata.[KeyId,CloudHsmClusterId]", "--output", "text")
            let fields = key.stdout.trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
            #expect(key.status == 0 && fields.count == 2 && fields[1] == Self.cluster, "\(key.stdout)\(key.stderr)")
            let random = try await d.p11kms("generate-random", "--number-of-bytes", "8", "--custom-key-store-id", id)
            #expect(random.status == 0, "\(random.stderr)")

            #expect(try await d.p11kms("update-custom-key-store", "--custom-key-store-id", id,
                                       "--new-custom-key-store-name", "renamed").status == 0)
            #expect(try await d.p11kms("disconnect-custom-key-store", "--custom-key-store-id", id).status == 0)
            let refused = try await d.p11kms("encrypt", "--key-id", fields[0], "--plaintext", "aGk=")
            #expect(refused.status == 1 && refused.stderr.contains("KMSInvalidStateException"), "\(refused.stderr)")
            let kept = try await d.p11kms("delete-custom-key-store", "--custom-key-store-id", id)
            #expect(kept.status == 1 && kept.stderr.contains("CustomKeyStoreHasCMKsException"), "\(kept.stderr)")
            let help = try await d.p11kms("create-custom-key-store", "--help")
            #expect(help.stdout.contains("--key-store-password") && help.stdout.contains("file://"), "\(help.stdout)")
        }
    }
}
