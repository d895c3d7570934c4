import ArgumentParser
import Foundation
import KMSAuditFormat
import KMSTokenSetup
import PKCS11

/// `p11kms token setup`: the token objects p11kmsd needs besides keys.
struct TokenSetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Create the daemon's domain, audit and metadata-seal keys on a token (idempotent).",
        discussion: """
            Logs in as the user and makes, where missing:
              \(TokenSetup.domainKeyLabel)   AES-256, wrap/unwrap only (wrapped key storage)
              \(TokenSetup.auditKeyLabel)   ECDSA P-256 pair, sign only (audit checkpoints)
              \(TokenSetup.sealKeyLabel)   HMAC key, sign/verify only (sealed metadata)
            all private, sensitive and never extractable. The user PIN is read from --pin-file (mode 0600)
            or the environment variable named by --pin-env, never from the command line.

            The domain key's CKA_UNWRAP_TEMPLATE forces every key unwrapped under it sensitive and
            non-extractable, so the PIN alone cannot turn a wrapped blob from the metadata store into key
            material. setup probes whether the token enforces it and prints the result; --upgrade adds the
            template to a domain key made before it existed.
            """)

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @Option(help: ArgumentHelp("File holding the user PIN (mode 0600).", valueName: "file")) var pinFile: String?
    @Option(help: ArgumentHelp("Environment variable holding the user PIN.", valueName: "name")) var pinEnv: String?
    @Option(help: ArgumentHelp("Also write the audit public key (PEM) here.", valueName: "file")) var auditPublicKey: String?
    @Flag(help: "Give an existing domain key its unwrap and wrap templates.") var upgrade = false

    func validate() throws {
        guard (pinFile == nil) != (pinEnv == nil) else { throw ValidationError("give exactly one of --pin-file and --pin-env") }
    }

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        let pin = try pinFile.map(PIN.fromFile) ?? PIN.fromEnvironment(pinEnv!)
        let session = try token.openSession()
        defer { try? session.close() }
        try session.login(.user, pin: pin)
        defer { try? session.logout() }
        let created = [
            (TokenSetup.domainKeyLabel, try TokenSetup.ensureDomainKey(session)),
            (TokenSetup.auditKeyLabel, try TokenSetup.ensureAuditKey(session)),
            (TokenSetup.sealKeyLabel, try TokenSetup.ensureSealKey(session)),
        ]
        for (label, isNew) in created { print("\(isNew ? "created" : "present") \(label)") }
        let profile = try TokenProfile.probe(session, slot: token.slot)
        if let wrap = try? profile.rfc5649WrapMechanism() {
            if upgrade, try TokenSetup.upgradeDomainKey(session, mechanism: wrap) {
                print("upgraded \(TokenSetup.domainKeyLabel): unwrap template added")
            }
            let domain = try session.findObjects([.class(.secretKey), .token(true), .label(TokenSetup.domainKeyLabel)])
            let enforcement = try TokenSetup.probeUnwrapEnforcement(session, domainKey: domain[0], mechanism: wrap)
            print("domain key unwrap template: \(enforcement)")
        } else {
            print("domain key unwrap template: not probed (the token has no RFC 5649 key wrap; use token storage mode)")
        }
        if let auditPublicKey {
            guard let key = try session.findObjects([.class(.publicKey), .label(TokenSetup.auditKeyLabel)]).first else {
                throw ValidationError("the audit key has no public half on this token")
            }
            let pem = AuditPublicKey.pem(try session.subjectPublicKeyInfo(of: key))
            try pem.write(toFile: auditPublicKey, atomically: true, encoding: .utf8)
            print("wrote \(auditPublicKey)")
        }
    }
}
