import PKCS11
import SoftHSMTestSupport
import Testing

@Suite("Token profile")
struct TokenProfileTests {
    @Test func softHSMProfileIsProbedNotAssumed() throws {
        try withFixture { f in
            let profile = try TokenProfile.probe(f.session, slot: f.token.token.slot)
            #expect(profile.manufacturerID.contains("SoftHSM"))
            #expect(profile.rfc5649KeyWrap == .aesKeyWrapPad)
            #expect(profile.gcmIVPolicy == .callerSupplied)
            #expect(profile.oaepHashes.contains(.sha1))
            #expect(profile.ecCurves.isSuperset(of: [.p256, .p384, .p521]))
            #expect(profile.supportsEd25519)
            #expect(profile.supportsRSA(bits: 2048) && profile.supportsRSA(bits: 4096))
            #expect(profile.supports(.aesGCM) && profile.supports(.sha512HMAC) && profile.supports(.eddsa))
            #expect(!profile.supports(MechanismType(rawValue: 0x8000_1234)))
            #expect(profile.wrappableKeyTypes.isSuperset(of: [.aes, .genericSecret, .ec, .rsa]))
            // SoftHSM 2.6 answers CKR_KEY_NOT_WRAPPABLE for Ed25519 private keys.
            #expect(!profile.canWrap(.ecEdwards))
            // Probing leaves no object behind.
            #expect(try f.session.findObjects([]).isEmpty)
        }
    }
}
