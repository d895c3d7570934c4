import ArgumentParser
import Foundation
import PKCS11

/// `p11kms token init`: C_InitToken.
struct TokenInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Initialise the token in a slot with a label and security officer PIN (C_InitToken).",
        discussion: """
            Initialising destroys every object on the token. A token that is already initialised is
            refused unless --force is given. Set the user PIN afterwards with 'token init-pin'.
            The SO PIN is read from --so-pin-file (mode 0600) or --so-pin-env, never the command line.
            """)

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "The slot id (see 'token list-slots').") var slot: UInt
    @Option(help: "The new token label (at most 32 bytes).") var label: String
    @OptionGroup var soPIN: TokenSOPINOptions
    @Flag(help: "Reinitialise a token that is already initialised, destroying its objects.") var force = false

    func validate() throws {
        guard !label.isEmpty, label.utf8.count <= 32 else { throw ValidationError("--label must be 1 ... 32 bytes") }
    }

    func run() throws {
        let module = try moduleOptions.load()
        let pin = try soPIN.required()
        guard let target = try module.slots(withTokenOnly: false).first(where: { $0.id.rawValue == slot }) else {
            throw ValidationError("no slot \(slot); see 'p11kms token list-slots'")
        }
        guard try target.info().isTokenPresent else { throw ValidationError("slot \(slot) has no token") }
        let info = try target.tokenInfo()
        if info.isInitialized && !force {
            throw TokenCommandFailure("the token in slot \(slot) is already initialised (label \"\(info.label)\"); "
                                  + "--force reinitialises it and destroys all its objects")
        }
        let token = try target.initToken(soPIN: pin, label: label)
        print("initialised token \"\(token.label)\" (serial \(token.serialNumber)) in slot \(token.slot.id)")
    }
}

/// `p11kms token init-pin`: the SO sets the user PIN (C_InitPIN).
struct TokenInitPINCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-pin",
        abstract: "Set the user PIN as the security officer (C_InitPIN).")

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @OptionGroup var soPIN: TokenSOPINOptions
    @OptionGroup var newPIN: TokenNewPINOptions

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        let so = try soPIN.required()
        let new = try newPIN.required()
        try withTokenSession(token, pin: so, as: .securityOfficer) { try $0.initUserPIN(new) }
        print("user PIN set on token \"\(token.label)\"")
    }
}

/// `p11kms token change-pin`: the user changes the user PIN (C_SetPIN).
struct TokenChangePINCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "change-pin",
        abstract: "Change the user PIN (C_SetPIN), given the current one.",
        discussion: "The current PIN comes from --pin-file/--pin-env, the new one from --new-pin-file/--new-pin-env.")

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @OptionGroup var pin: TokenUserPINOptions
    @OptionGroup var newPIN: TokenNewPINOptions

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        let old = try pin.required()
        let new = try newPIN.required()
        try withTokenSession(token, pin: old) { try $0.changePIN(old: old, new: new) }
        print("user PIN changed on token \"\(token.label)\"")
    }
}
