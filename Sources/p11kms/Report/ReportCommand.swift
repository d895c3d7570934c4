import ArgumentParser
import Foundation
import KMSAuditFormat
import KMSClient

/// `p11kms report`: the signed evidence a compliance reviewer hands an
/// auditor, and its offline check.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a signed report of keys, their HSM attributes, access, use and findings (admins only).",
        discussion: """
            `p11kms report --output-dir DIR` asks p11kmsd for a report of every key (or each --key-id) and writes \
            DIR/report.json, signed by the token's audit key, and DIR/report.html, the same for a person. For each \
            key and version: the HSM attributes read from the token now (CKA_LOCAL, CKA_ALWAYS_SENSITIVE, \
            CKA_NEVER_EXTRACTABLE, CKA_EXTRACTABLE, CKA_SENSITIVE) of its material or, in wrapped mode, of its KEK \
            and the domain key; its history and use from the audit log, read only as far as its chain and \
            signatures verify; who may use it (key policy and grants); and findings: rotation overdue, extractable \
            or non-local material (imported keys are labelled, not faulted), a policy granting kms:* to a \
            non-admin, a deletion pending, an audit gap, a key unused for --unused-days. \
            `p11kms report verify DIR/report.json --key-fingerprint SHA256:...` checks a report offline. \
            Exit status 0: written (or intact); 1: refused, failed, or not intact.
            """,
        subcommands: [Generate.self, Verify.self],
        defaultSubcommand: Generate.self)

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate", abstract: "Write DIR/report.json (signed) and DIR/report.html (the default).")

        @Option(name: .customLong("key-id"), help: "A key to report on (id, ARN); repeat for several. Default: every key.")
        var keyIds: [String] = []
        @Option(help: "Count use from this ISO 8601 time, e.g. 2026-01-01T00:00:00Z (default: the whole audit log).")
        var since: String?
        @Option(help: "Flag an enabled key with no cryptographic use for this many days (default 90).")
        var unusedDays: Int = 90
        @Option(help: "Where report.json and report.html go (created if missing).", completion: .directory)
        var outputDir: String
        @OptionGroup var socketOptions: FileSocketOptions

        func validate() throws {
            if let since, (try? Date.ISO8601FormatStyle().parse(since)) == nil {
                throw ValidationError("--since \(since) is not an ISO 8601 time such as 2026-01-02T03:04:05Z")
            }
            guard (1...3650).contains(unusedDays) else { throw ValidationError("--unused-days must be 1 to 3650") }
        }

        func run() async throws {
            var parameters: [String: Any] = ["unused_days": unusedDays]
            if !keyIds.isEmpty { parameters["key_ids"] = keyIds }
            if let since { parameters["since"] = since }
            let file = try await fetch("p11kms report", parameters, socketOptions)
            let (document, fingerprint) = try SignedDocument.open(file)
            let report = try ComplianceReport.decode(document)
            do {
                try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
                try file.write(to: URL(fileURLWithPath: outputDir + "/report.json"))
                try Data(ReportHTML.render(report, fingerprint: fingerprint).utf8).write(to: URL(fileURLWithPath: outputDir + "/report.html"))
            } catch {
                fileWriteStderr("p11kms report: cannot write to \(outputDir): \(fileErrorMessage(error))\n")
                throw ExitCode(1)
            }
            let faults = report.findings.filter { $0.severity == "fault" }.count
            print("wrote \(outputDir)/report.json and \(outputDir)/report.html: \(report.keys.count) keys, "
                  + "\(report.findings.count) findings (\(faults) faults), signed by \(fingerprint)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check a report's signature offline; exit 0 only if it is intact.",
            discussion: """
                Without --key-fingerprint this shows only that the report has not changed since the key inside it \
                signed it; pin the audit key's fingerprint (from `p11kms status` or `p11kms token info` on the \
                host) to show who signed it.
                """)

        @Argument(help: "The report.json to check.", completion: .file())
        var file: String
        @Option(help: "The audit key's fingerprint the report must be signed by (SHA256: and 64 hex digits).")
        var keyFingerprint: String?

        func run() throws {
            let bytes: Data
            do { bytes = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                fileWriteStderr("p11kms report verify: cannot read \(file): \(fileErrorMessage(error))\n")
                throw ExitCode(1)
            }
            do {
                let (document, fingerprint) = try SignedDocument.open(bytes, expectedFingerprint: keyFingerprint)
                let report = try ComplianceReport.decode(document)
                print("intact: \(report.kind) of \(report.keys.count) keys generated \(AuditLine.formatTime(report.generatedAt)), "
                      + "signed by \(fingerprint)" + (keyFingerprint == nil ? " (not pinned: give --key-fingerprint)" : ""))
            } catch let error as SignedDocument.Invalid {
                fileWriteStderr("p11kms report verify: \(file) is not intact: \(error)\n")
                throw ExitCode(1)
            } catch {
                fileWriteStderr("p11kms report verify: \(file) is signed but is not a p11kms report: \(error)\n")
                throw ExitCode(1)
            }
        }
    }
}

/// `p11kms key attest KEY`: one key's HSM evidence as signed JSON, for a ticket.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Evidence about one key.", subcommands: [Attest.self])

    struct Attest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "attest",
            abstract: "Print one key's HSM evidence as signed JSON (admins only).",
            discussion: """
                The small form of `p11kms report`: the key's versions and the attributes the HSM reports now for \
                its material (or its KEK and the domain key), its policy, history and findings, signed by the \
                token's audit key. Check it with `p11kms report verify FILE --key-fingerprint SHA256:...`.
                """)

        @Argument(help: "The key (id or ARN).") var keyId: String
        @OptionGroup var socketOptions: FileSocketOptions

        func run() async throws {
            let file = try await fetch("p11kms key attest", ["key_ids": [keyId], "attestation": true], socketOptions)
            FileHandle.standardOutput.write(file)
        }
    }
}

/// POST /admin/report; failures are printed with the command's name and exit 1.
private func fetch(_ name: String, _ parameters: [String: Any], _ socket: FileSocketOptions) async throws -> Data {
    let client: KMSClient
    do { client = try socket.client() } catch {
        fileWriteStderr("\(name): \(fileErrorMessage(error))\n")
        throw ExitCode(1)
    }
    defer { Task { try? await client.shutdown() } }
    do {
        return try await client.complianceReport(parameters)
    } catch {
        fileWriteStderr("\(name): \(fileErrorMessage(error))\n")
        throw ExitCode(1)
    }
}
