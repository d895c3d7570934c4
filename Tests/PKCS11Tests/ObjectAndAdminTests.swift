import PKCS11
import SoftHSMTestSupport
import Testing

@Suite("Objects, PINs and errors")
struct ObjectAndAdminTests {
    @Test func createFindGetSetCopyDestroy() throws {
        try withFixture { f in
            let data = try f.session.createObject([
                .class(.data), .token(false), .label("note-1"), .value(Array("payload".utf8)), .private(true),
            ])
            #expect(try f.session.findObjects([.class(.data), .label("note-1")]) == [data])
            #expect(try f.session.attribute(.value, of: data).value == Array("payload".utf8))
            try f.session.setAttributes([.label("note-2")], of: data)
            #expect(try f.session.findObjects([.label("note-1")]).isEmpty)
            let copy = try f.session.copyObject(data, changing: [.label("note-copy")])
            #expect(copy != data)
            #expect(try f.session.attribute(.value, of: copy).value == Array("payload".utf8))
            #expect(Set(try f.session.findObjects([.class(.data)])) == [data, copy])
            #expect(try f.session.findObjects([.class(.data)], limit: 1).count == 1)
            try f.session.destroyObject(data)
            #expect(try f.session.findObjects([.class(.data)]) == [copy])
        }
    }

    @Test func destroyedHandleIsReportedNotCrashedOn() throws {
        try withFixture { f in
            let key = try f.session.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt))
            try f.session.destroyObject(key)
            let error = #expect(throws: PKCS11Error.self) { try f.session.aesGCMSeal([1, 2, 3], key: key) }
            #expect(error?.code == .keyHandleInvalid || error?.code == .objectHandleInvalid)
            let again = #expect(throws: PKCS11Error.self) { try f.session.destroyObject(key) }
            #expect(again?.code == .objectHandleInvalid)
            // The session is still usable afterwards: no operation was left active.
            let fresh = try f.session.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt))
            #expect(try f.session.aesGCMOpen(f.session.aesGCMSeal([7], key: fresh), key: fresh) == [7])
        }
    }

    @Test func keyUsedForAFunctionItLacksNamesTheCode() throws {
        try withFixture { f in
            let key = try f.session.generateKey(.aes(bits: 256), KeyOptions(usage: .encrypt))
            let box = try f.session.aesGCMSeal([1], key: key)
            let error = #expect(throws: PKCS11Error.self) { try f.session.aesGCMOpen(box, key: key) }
            #expect(error?.code == .keyFunctionNotPermitted)
            #expect(error?.description == "C_DecryptInit: CKR_KEY_FUNCTION_NOT_PERMITTED (0x68)")
            let signer = try f.session.generateKeyPair(.ec(.p256), KeyOptions(usage: .verify))
            let signError = #expect(throws: PKCS11Error.self) {
                try f.session.sign([UInt8](repeating: 1, count: 32), key: signer.privateKey, mechanism: .ecdsa)
            }
            #expect(signError?.code == .keyFunctionNotPermitted)
        }
    }

    @Test func wrongPINNamesPinIncorrect() throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken()
        let session = try test.token.openSession()
        defer { try? session.close() }
        let error = #expect(throws: PKCS11Error.self) { try session.login(.user, pin: PIN("not-the-pin")) }
        #expect(error?.code == .pinIncorrect)
        #expect(error?.isPINFailure == true)
        #expect(error?.description == "C_Login: CKR_PIN_INCORRECT (0xA0)")
        #expect(try !session.state().isLoggedIn)
    }

    @Test func tokenAdministrationInitPINChangePINAndSOLogin() throws {
        let env = try SoftHSMTestEnvironment.shared()
        let test = try env.makeToken()
        let session = try test.token.openSession()
        defer { try? session.close() }

        // The security officer resets the user PIN.
        try session.login(.securityOfficer, pin: PIN(test.soPIN))
        #expect(try session.state() == .readWriteSecurityOfficer)
        try session.initUserPIN(PIN("reset-user-pin"))
        try session.logout()
        #expect(throws: PKCS11Error.self) { try session.login(.user, pin: PIN(test.userPIN)) }

        // The user changes their own PIN.
        try session.login(.user, pin: PIN("reset-user-pin"))
        #expect(try session.state() == .readWriteUser)
        try session.changePIN(old: PIN("reset-user-pin"), new: PIN("changed-user-pin"))
        try session.logout()
        let old = #expect(throws: PKCS11Error.self) { try session.login(.user, pin: PIN("reset-user-pin")) }
        #expect(old?.code == .pinIncorrect)
        try session.login(.user, pin: PIN("changed-user-pin"))
        // Logging in twice is success: login belongs to the application.
        try session.login(.user, pin: PIN("changed-user-pin"))
        try session.logout()
    }

    @Test func reinitialisingATokenWipesIt() throws {
        let env = try SoftHSMTestEnvironment.shared()
        let test = try env.makeToken()
        let label = test.token.label
        do {
            let session = try test.openUserSession()
            _ = try session.generateKey(.aes(bits: 128), KeyOptions(usage: .encrypt, token: true, label: "doomed"))
            try session.logout()
            try session.close()
        }
        let token = try test.token.slot.initToken(soPIN: PIN(test.soPIN), label: label)
        let session = try token.openSession()
        defer { try? session.close() }
        try session.login(.securityOfficer, pin: PIN(test.soPIN))
        try session.initUserPIN(PIN("fresh"))
        try session.logout()
        try session.login(.user, pin: PIN("fresh"))
        #expect(try session.findObjects([.label("doomed")]).isEmpty)
    }
}
