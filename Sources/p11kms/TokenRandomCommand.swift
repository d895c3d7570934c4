import ArgumentParser
import Foundation
import PKCS11

/// `p11kms token random`: C_GenerateRandom.
struct TokenRandomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "random",
        abstract: "Print random bytes from the token's generator (C_GenerateRandom).",
        discussion: """
            Writes the bytes raw to stdout, or as hex (--hex) or base64 (--base64), or raw to a new
            file (--out, mode 0600). Raw bytes are not written to a terminal: hex is printed instead.
            Tokens that require it are logged in with --pin-file/--pin-env.
            """)

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @OptionGroup var pin: TokenUserPINOptions
    @Option(help: "How many bytes, 1 ... 1048576.") var bytes: Int
    @Flag(help: "Print hex.") var hex = false
    @Flag(help: "Print base64.") var base64 = false
    @Option(help: ArgumentHelp("Write the raw bytes to this file.", valueName: "file")) var out: String?

    func validate() throws {
        guard (1...(1 << 20)).contains(bytes) else { throw ValidationError("--bytes must be 1 ... 1048576") }
        guard [hex, base64, out != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("give at most one of --hex, --base64 and --out")
        }
    }

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        let random = try withTokenSession(token, pin: try pin.optional(), readWrite: false) { try $0.generateRandom(count: bytes) }
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: Data(random), attributes: [.posixPermissions: 0o600]) else {
                throw TokenCommandFailure("cannot write \(out)")
            }
        } else if base64 {
            print(Data(random).base64EncodedString())
        } else if hex || isatty(STDOUT_FILENO) == 1 {
            print(random.map { String(format: "%02x", $0) }.joined())
        } else {
            FileHandle.standardOutput.write(Data(random))
        }
    }
}
