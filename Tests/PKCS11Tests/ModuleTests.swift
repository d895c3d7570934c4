import PKCS11
import SoftHSMTestSupport
import Testing

@Suite("Module, slots and token administration")
struct ModuleTests {
    @Test func moduleInfoNamesSoftHSM() throws {
        let env = try SoftHSMTestEnvironment.shared()
        let info = try env.module.info()
        #expect(info.manufacturerID.contains("SoftHSM"))
        #expect(info.cryptokiVersion.major == 2)
        // Loading the same path again returns the same initialised module.
        #expect(try PKCS11Module.load(path: env.module.path) === env.module)
    }

    @Test func newTokenIsListedWithItsLabelAndMechanisms() throws {
        let test = try SoftHSMTestEnvironment.shared().makeToken(label: "listed-token-\(UInt32.random(in: 0...UInt32.max))")
        let slots = try test.module.slots()
        #expect(slots.contains(test.token.slot))
        let info = try test.token.info()
        #expect(info.label == test.token.label)
        #expect(info.isInitialized && info.isUserPINInitialized && info.isLoginRequired)
        let mechanisms = try test.token.slot.mechanisms()
        #expect(mechanisms.contains(.aesGCM))
        #expect(mechanisms.contains(.aesKeyWrapPad))
        let gcm = try test.token.slot.mechanismInfo(.aesGCM)
        #expect(gcm.usage.contains([.encrypt, .decrypt]))
        #expect(gcm.minKeySize == 16 && gcm.maxKeySize == 32)
        #expect(try test.module.token(serial: info.serialNumber) == test.token)
        #expect(try test.module.token(slotID: test.token.slot.id).label == test.token.label)
    }

    @Test func tokenSelectionRefusesUnknownLabels() throws {
        let env = try SoftHSMTestEnvironment.shared()
        #expect(throws: PKCS11UsageError.self) { try env.module.token(label: "no-such-token") }
    }
}
