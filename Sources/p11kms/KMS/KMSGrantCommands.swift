import ArgumentParser
import Foundation
import KMSClient
import KMSModel

extension GrantOperation: ExpressibleByArgument {}

extension KMSHelp {
    static let principal = "unix:uid:N, unix:user:NAME, unix:group:NAME, or access_key:NAME for a SigV4 access key."
}

/// `--grant-tokens`, on the operations whose aws command has it.
struct KMSGrantTokens: ParsableArguments {
    @Option(parsing: .upToNextOption, help: "Grant tokens from CreateGrant (several, space-separated or repeated).")
    var grantTokens: [String] = []

    var tokens: [String]? { grantTokens.isEmpty ? nil : grantTokens }
}

/// `--grant-tokens` and `--dry-run`, on the operations whose aws command has both.
struct KMSGrantTokensAndDryRun: ParsableArguments {
    @OptionGroup var grants: KMSGrantTokens
    @Flag(help: "Check the request, including permission, without performing it (answers DryRunOperationException).")
    var dryRun = false

    var tokens: [String]? { grants.tokens }
    var dryRunValue: Bool? { dryRun ? true : nil }
}

struct KMSCreateGrant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-grant", abstract: "Let a principal use a key for some operations (CreateGrant).")
    @Option(help: "The key: key ID or key ARN.") var keyId: String
    @Option(help: ArgumentHelp("Who gets the permissions: " + KMSHelp.principal)) var granteePrincipal: String
    @Option(help: ArgumentHelp("Who may retire the grant: " + KMSHelp.principal)) var retiringPrincipal: String?
    @Option(parsing: .upToNextOption, help: KMSHelp.values("The operations the grant allows (several).", GrantOperation.self))
    var operations: [GrantOperation]
    @Option(help: ArgumentHelp(
        "Constraints, JSON (file://PATH reads it): {\"EncryptionContextSubset\":{\"k\":\"v\"}} or "
            + "{\"EncryptionContextEquals\":{...}}.", valueName: "json"))
    var constraints: String?
    @Option(help: "A name that makes a retried create-grant return the same grant.") var name: String?
    @OptionGroup var permission: KMSGrantTokensAndDryRun
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        var parsed: GrantConstraints?
        if let constraints {
            let text = try KMSInput.text(constraints, option: "--constraints")
            do {
                parsed = try AWSJSONCodec.decode(GrantConstraints.self, from: Data(text.utf8))
            } catch let error as KMSError {
                throw ValidationError("--constraints: \(error.message)")
            }
        }
        let request = CreateGrantRequest(keyId: keyId, granteePrincipal: granteePrincipal, operations: operations,
                                         retiringPrincipal: retiringPrincipal, constraints: parsed,
                                         grantTokens: permission.tokens, name: name, dryRun: permission.dryRunValue)
        try await kms.call(.createGrant) { try await $0.createGrant(request) }
    }
}

struct KMSListGrants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-grants", abstract: "List a key's grants (ListGrants), every page unless --no-paginate.")
    @Option(help: "The key: key ID or key ARN.") var keyId: String
    @Option(help: "Only this grant.") var grantId: String?
    @Option(help: ArgumentHelp("Only grants to this principal: " + KMSHelp.principal)) var granteePrincipal: String?
    @Option(help: "The most grants per page (1-100; default 50).") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let (keyId, grantId, grantee) = (self.keyId, self.grantId, self.granteePrincipal)
        try await kms.callPaginated(.listGrants, items: "Grants", paging: paging, limit: limit, marker: marker) {
            try await $0.listGrants(ListGrantsRequest(keyId: keyId, limit: $1, marker: $2, grantId: grantId, granteePrincipal: grantee))
        }
    }
}

struct KMSListRetirableGrants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-retirable-grants",
        abstract: "List the grants a principal may retire, on every key (ListRetirableGrants).")
    @Option(help: ArgumentHelp("The retiring principal: " + KMSHelp.principal)) var retiringPrincipal: String
    @Option(help: "The most grants per page (1-100; default 50).") var limit: Int?
    @Option(help: "NextMarker from a page printed with --no-paginate (one page from there).") var marker: String?
    @OptionGroup var paging: KMSPaging
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let retiring = retiringPrincipal
        try await kms.callPaginated(.listRetirableGrants, items: "Grants", paging: paging, limit: limit, marker: marker) {
            try await $0.listRetirableGrants(ListRetirableGrantsRequest(retiringPrincipal: retiring, limit: $1, marker: $2))
        }
    }
}

struct KMSRetireGrant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire-grant", abstract: "Retire a grant, named by --grant-token or by --key-id and --grant-id (RetireGrant).")
    @Option(help: "The grant's token.") var grantToken: String?
    @Option(help: "The key: key ID or key ARN.") var keyId: String?
    @Option(help: "The grant id.") var grantId: String?
    @Flag(help: "Check the request, including permission, without performing it.") var dryRun = false
    @OptionGroup var kms: KMSOptions

    func validate() throws {
        guard grantToken != nil || (keyId != nil && grantId != nil) else {
            throw ValidationError("Give --grant-token, or both --key-id and --grant-id.")
        }
    }

    func run() async throws {
        let request = RetireGrantRequest(grantToken: grantToken, keyId: keyId, grantId: grantId, dryRun: dryRun ? true : nil)
        try await kms.callEmpty(.retireGrant) { try await $0.retireGrant(request) }
    }
}

struct KMSRevokeGrant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke-grant", abstract: "Revoke a grant (RevokeGrant).")
    @Option(help: "The key: key ID or key ARN.") var keyId: String
    @Option(help: "The grant id.") var grantId: String
    @Flag(help: "Check the request, including permission, without performing it.") var dryRun = false
    @OptionGroup var kms: KMSOptions

    func run() async throws {
        let request = RevokeGrantRequest(keyId: keyId, grantId: grantId, dryRun: dryRun ? true : nil)
        try await kms.callEmpty(.revokeGrant) { try await $0.revokeGrant(request) }
    }
}
