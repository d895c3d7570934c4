import ArgumentParser
import Foundation
import KMSAuditFormat
import KMSTokenSetup
import PKCS11

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the daemon's tamper-evident audit log offline, and export its public key.",
        subcommands: [Verify.self, ExportPublicKey.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain and the signed checkpoints of an audit log.",
            discussion: """
                PATH is one audit file or the audit directory (its rotated audit-*.log files are read in order,
                then audit.log). Exit status 0: intact; 1: the first bad line is printed; 2: usage error.
                Lines after the last checkpoint are chained but not yet signed; they are reported as the
                unsigned tail (use --require-signed to fail on them).
                """)

        @Argument(help: "An audit log file or the audit directory.") var path: String
        @Option(help: ArgumentHelp("The audit public key (PEM), as exported by the daemon.", valueName: "pem"))
        var publicKey: String
        @Flag(help: "Fail when lines follow the last signed checkpoint.") var requireSigned = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let pem: String
            do { pem = try String(contentsOfFile: publicKey, encoding: .utf8) } catch {
                throw ValidationError("cannot read \(publicKey): \(error.localizedDescription)")
            }
            let result = try AuditVerifier.verify(path: path, publicKeyPEM: pem)
            if json {
                var object: [String: Any] = [
                    "intact": result.isIntact, "lines_checked": result.linesChecked,
                    "checkpoints_verified": result.checkpointsVerified, "unsigned_tail_lines": result.unsignedTailLines,
                    "files": result.files,
                ]
                if let p = result.firstProblem {
                    object["first_problem"] = ["file": p.file, "line": p.line, "reason": p.reason.rawValue]
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else if let problem = result.firstProblem {
                print("TAMPERED: \(problem)")
                print("\(result.linesChecked) lines good before it, \(result.checkpointsVerified) checkpoints verified")
            } else {
                print("intact: \(result.linesChecked) lines in \(result.files.count) file(s), "
                      + "\(result.checkpointsVerified) signed checkpoints verified, "
                      + "\(result.unsignedTailLines) line(s) after the last checkpoint not yet signed")
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
