import ArgumentParser
import Foundation
import PKCS11

/// Reads a PIN from exactly one of a 0600 file or an environment variable;
/// PINs are never taken from the command line.
func tokenReadPIN(file: String?, env: String?, what: String, fileOption: String, envOption: String) throws -> PIN? {
    switch (file, env) {
    case (nil, nil): return nil
    case (let f?, nil): return try PIN.fromFile(f)
    case (nil, let e?): return try PIN.fromEnvironment(e)
    default: throw ValidationError("give only one of \(fileOption) and \(envOption) for the \(what)")
    }
}

func tokenRequirePIN(file: String?, env: String?, what: String, fileOption: String, envOption: String) throws -> PIN {
    guard let pin = try tokenReadPIN(file: file, env: env, what: what, fileOption: fileOption, envOption: envOption) else {
        throw ValidationError("the \(what) is needed: give \(fileOption) (mode 0600) or \(envOption)")
    }
    return pin
}

/// The user PIN: --pin-file or --pin-env.
struct TokenUserPINOptions: ParsableArguments {
    @Option(help: ArgumentHelp("File holding the user PIN (mode 0600).", valueName: "file")) var pinFile: String?
    @Option(help: ArgumentHelp("Environment variable holding the user PIN.", valueName: "name")) var pinEnv: String?

    func validate() throws {
        if pinFile != nil && pinEnv != nil { throw ValidationError("give only one of --pin-file and --pin-env") }
    }

    func optional() throws -> PIN? {
        try tokenReadPIN(file: pinFile, env: pinEnv, what: "user PIN", fileOption: "--pin-file", envOption: "--pin-env")
    }

    func required() throws -> PIN {
        try tokenRequirePIN(file: pinFile, env: pinEnv, what: "user PIN", fileOption: "--pin-file", envOption: "--pin-env")
    }
}

/// The security officer PIN: --so-pin-file or --so-pin-env.
struct TokenSOPINOptions: ParsableArguments {
    @Option(help: ArgumentHelp("File holding the security officer PIN (mode 0600).", valueName: "file"))
    var soPinFile: String?
    @Option(help: ArgumentHelp("Environment variable holding the security officer PIN.", valueName: "name"))
    var soPinEnv: String?

    func validate() throws {
        guard (soPinFile == nil) != (soPinEnv == nil) else { throw ValidationError("give exactly one of --so-pin-file and --so-pin-env") }
    }

    func required() throws -> PIN {
        try tokenRequirePIN(file: soPinFile, env: soPinEnv, what: "SO PIN", fileOption: "--so-pin-file", envOption: "--so-pin-env")
    }
}

/// The new user PIN: --new-pin-file or --new-pin-env.
struct TokenNewPINOptions: ParsableArguments {
    @Option(help: ArgumentHelp("File holding the new user PIN (mode 0600).", valueName: "file")) var newPinFile: String?
    @Option(help: ArgumentHelp("Environment variable holding the new user PIN.", valueName: "name")) var newPinEnv: String?

    func validate() throws {
        guard (newPinFile == nil) != (newPinEnv == nil) else { throw ValidationError("give exactly one of --new-pin-file and --new-pin-env") }
    }

    func required() throws -> PIN {
        try tokenRequirePIN(file: newPinFile, env: newPinEnv, what: "new PIN", fileOption: "--new-pin-file", envOption: "--new-pin-env")
    }
}

/// Opens a session on the token and logs in as `userType` when a PIN is given.
func withTokenSession<R>(_ token: Token, pin: PIN?, as userType: UserType = .user, readWrite: Bool = true,
                         _ body: (Session) throws -> R) throws -> R {
    let session = try token.openSession(readWrite: readWrite)
    defer { try? session.close() }
    if let pin {
        try session.login(userType, pin: pin)
    }
    defer { if pin != nil { try? session.logout() } }
    return try body(session)
}
