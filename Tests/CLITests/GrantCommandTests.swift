import Foundation
import Testing

/// The grant subcommands and `--grant-tokens` / `--dry-run` on the others.
@Suite("p11kms grant commands and --grant-tokens / --dry-run", .serialized)
struct GrantCommandTests {
    @Test func grantsFromTheCommandLine() async throws {
        try await withKMSCLIDaemon { d in
            let keyId = try await #require((try d.p11kms("create-key").json["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
            let created = try await d.p11kms("create-grant", "--key-id", keyId, "--grantee-principal", "unix:user:checkout",
                                       "--retiring-principal", "unix:uid:0", "--operations", "Encrypt", "Decrypt",
                                       "--constraints", #"{"EncryptionContextSubset":{"tenant":"acme"}}"#, "--name", "cli")
            #expect(created.status == 0, "\(created.stderr)")
            let token = try #require(created.json["GrantToken"] as? String)
            let grantId = try #require(created.json["GrantId"] as? String)

            let listed = try await d.p11kms("list-grants", "--key-id", keyId, "--query", "Grants[].[GrantId,Name]", "--output", "text")
            #expect(listed.stdout == "\(grantId)\tcli\n", "\(listed.stdout)\(listed.stderr)")
            let retirable = try await d.p11kms("list-retirable-grants", "--retiring-principal", "unix:uid:0",
                                         "--query", "length(Grants)", "--output", "text")
            #expect(retirable.stdout == "1\n", "\(retirable.stdout)\(retirable.stderr)")

            // --grant-tokens and --dry-run reach the service.
            let withToken = try await d.p11kms("encrypt", "--key-id", keyId, "--plaintext", "aGk=", "--grant-tokens", token)
            #expect(withToken.status == 0, "\(withToken.stderr)")
            let forged = try await d.p11kms("describe-key", "--key-id", keyId, "--grant-tokens", "forged")
            #expect(forged.status == 1 && forged.stderr.contains("InvalidGrantTokenException"), "\(forged.stderr)")
            for command in [["encrypt", "--key-id", keyId, "--plaintext", "aGk="],
                            ["generate-data-key", "--key-id", keyId, "--key-spec", "AES_256"],
                            ["retire-grant", "--grant-token", token]] {
                let dry = try await d.p11kms(command + ["--dry-run"])
                #expect(dry.status == 1 && dry.stderr.contains("DryRunOperationException"), "\(command[0]): \(dry.stderr)")
            }
            let badConstraints = try await d.p11kms("create-grant", "--key-id", keyId, "--grantee-principal", "unix:uid:1",
                                              "--operations", "Encrypt", "--constraints", "{nope")
            #expect(badConstraints.status != 0)
            let noGrant = try await d.p11kms("retire-grant", "--key-id", keyId)
            #expect(noGrant.status != 0 && noGrant.stderr.contains("--grant-token"), "\(noGrant.stderr)")

            let retired = try await d.p11kms("retire-grant", "--grant-token", token)
            #expect(retired.status == 0 && retired.stdout.isEmpty, "\(retired.stderr)")
            let empty = try await d.p11kms("list-grants", "--key-id", keyId, "--query", "length(Grants)", "--output", "text")
            #expect(empty.stdout == "0\n")
        }
    }
}
