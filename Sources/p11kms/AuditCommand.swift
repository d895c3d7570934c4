import ArgumentParser
import Foundation
import KMSAuditFormat
import KMSClient
import KMSTokenSetup
import PKCS11

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the daemon's tamper-evident audit log offline, and export its public key.",
        subcommands: [Verify.self, ExportPublicKey.self, AcknowledgeTruncation.self, KEKVersions.self])

    struct AcknowledgeTruncation: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "acknowledge-truncation",
            abstract: "Let a daemon whose audit log was found cut short serve again (admins only; audited).",
            discussion: """
                After every checkpoint the daemon records the checkpoint's seq and hash in a token object. A log \
                found at start-up to end before that point had lines cut off its end, and the daemon refuses \
                every request until an admin runs this command. Check the log first (p11kms audit verify) and \
                find out what happened: the acknowledgement, with your uid and the finding, becomes the first \
                line after the cut. Exit status 0: acknowledged, or nothing to acknowledge; 1: refused or failed.
                """)

        @OptionGroup var socketOptions: FileSocketOptions

        func run() async throws {
            let client: KMSClient
            do { client = try socketOptions.client() } catch {
                fileWriteStderr("p11kms audit acknowledge-truncation: \(fileErrorMessage(error))\n")
                throw ExitCode(1)
            }
            defer { Task { try? await client.shutdown() } }
            do {
                if let finding = try await client.acknowledgeAuditTruncation() {
                    print("acknowledged: \(finding)")
                } else {
                    print("the audit log is not truncated; nothing to acknowledge")
                }
            } catch {
                fileWriteStderr("p11kms audit acknowledge-truncation: \(fileErrorMessage(error))\n")
                throw ExitCode(1)
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain and the signed checkpoints of an audit log.",
            discussion: """
                PATH is one audit file or the audit directory (its rotated audit-*.log files are read in order, then \
                audit.log). The chain must start at seq 1: a log whose first lines were cut off is reported as \
                tampered. To check a log whose older files were archived, give --from-sequence N and \
                --previous-hash H, the hash of line N-1 printed by the check of the archived part. The first and \
                last sequence checked and the hash of the last line are always printed.

                Pin the audit key with --key-fingerprint SHA256:..., as printed by `p11kms token info` or \
                `p11kms status`: the PEM in the state directory can be replaced by whoever rewrote the log.

                Exit status 0: intact; 1: the first bad line is printed; 2: usage error. Lines after the last \
                checkpoint are chained but not yet signed; they are reported as the unsigned tail (use \
                --require-signed to fail on them).
                """)

        @Argument(help: "An audit log file or the audit directory.") var path: String
        @Option(help: ArgumentHelp("The audit public key (PEM), as exported by the daemon.", valueName: "pem"))
        var publicKey: String
        @Option(help: ArgumentHelp("Trust only the audit key with this fingerprint (repeat for a replaced key).",
                                   valueName: "SHA256:hex"))
        var keyFingerprint: [String] = []
        @Option(help: ArgumentHelp("The seq the log is expected to start at (with --previous-hash).", valueName: "n"))
        var fromSequence: UInt64?
        @Option(help: ArgumentHelp("The hash of line N-1, from the check of the archived lines before N.", valueName: "hex"))
        var previousHash: String?
        @Flag(help: "Fail when lines follow the last signed checkpoint.") var requireSigned = false
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if (fromSequence == nil) != (previousHash == nil) {
                throw ValidationError("give --from-sequence and --previous-hash together")
            }
            if let fromSequence, fromSequence < 2 { throw ValidationError("--from-sequence must be 2 or more; a log starts at 1") }
            if let previousHash, previousHash.count != 64 || !previousHash.allSatisfy(\.isHexDigit) {
                throw ValidationError("--previous-hash must be 64 hex digits")
            }
            for fingerprint in keyFingerprint where AuditPublicKey.keyID(fromFingerprint: fingerprint) == nil {
                throw ValidationError("--key-fingerprint \(fingerprint) is not SHA256: and 64 hex digits")
            }
        }

        func run() throws {
            let pem: String
            do { pem = try String(contentsOfFile: publicKey, encoding: .utf8) } catch {
                throw ValidationError("cannot read \(publicKey): \(error.localizedDescription)")
            }
            let start = fromSequence.map { AuditVerifier.ChainStart(sequence: $0, previousHash: previousHash!) }
            let result = try AuditVerifier.verify(path: path, publicKeyPEM: pem, start: start,
                                                  pinnedFingerprints: keyFingerprint)
            if json {
                var object: [String: Any] = [
                    "intact": result.isIntact, "lines_checked": result.linesChecked,
                    "checkpoints_verified": result.checkpointsVerified, "unsigned_tail_lines": result.unsignedTailLines,
                    "files": result.files, "key_fingerprints": result.keyFingerprints,
                    "key_pinned": !keyFingerprint.isEmpty,
                ]
                if let v = result.firstSequence { object["first_sequence"] = v }
                if let v = result.lastSequence { object["last_sequence"] = v }
                if let v = result.lastHash { object["last_hash"] = v }
                if let p = result.firstProblem {
                    object["first_problem"] = ["file": p.file, "line": p.line, "reason": p.reason.rawValue]
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                if let problem = result.firstProblem {
                    print("TAMPERED: \(problem)")
                    print("\(result.linesChecked) lines good before it, \(result.checkpointsVerified) checkpoints verified")
                } else {
                    print("intact: \(result.linesChecked) lines in \(result.files.count) file(s), "
                          + "\(result.checkpointsVerified) signed checkpoints verified, "
                          + "\(result.unsignedTailLines) line(s) after the last checkpoint not yet signed")
                }
                let range = result.firstSequence.map { first in "seq \(first) to \(result.lastSequence ?? first)" } ?? "no lines"
                print("checked: \(range)" + (result.lastHash.map { ", last line hash \($0)" } ?? ""))
                print("audit key: \(result.keyFingerprints.joined(separator: ", "))"
                      + (keyFingerprint.isEmpty ? " (not pinned: compare with `p11kms token info`, or pin with --key-fingerprint)" : " (pinned)"))
            }
            if !result.isIntact || (requireSigned && result.unsignedTailLines > 0) { throw ExitCode(1) }
        }
    }

    struct ExportPublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-public-key",
            abstract: "Print the audit public key (PEM) straight from the token.",
            discussion: "The audit key is the token's ECDSA P-256 key labelled \(TokenSetup.auditKeyLabel); its public half needs no login.")

        @OptionGroup var moduleOptions: ModuleOptions
        @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?

        func run() throws {
            let module = try moduleOptions.load()
            let token = try selectToken(module, label: tokenLabel)
            let session = try token.openSession(readWrite: false)
            defer { try? session.close() }
            guard let key = try session.findObjects([.class(.publicKey), .label(TokenSetup.auditKeyLabel)]).first else {
                throw ValidationError("token \(token.label) has no audit key (\(TokenSetup.auditKeyLabel)); run the daemon's token setup")
            }
            print(AuditPublicKey.pem(try session.subjectPublicKeyInfo(of: key)), terminator: "")
        }
    }
}
