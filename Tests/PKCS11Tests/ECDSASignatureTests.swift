import PKCS11
import Testing

/// Pure DER ⇄ raw conversion; the Wycheproof suite covers it against vectors.
@Suite("ECDSA signature encoding")
struct ECDSASignatureTests {
    @Test func roundTripPadsAndAddsSignBytes() throws {
        // r has its top bit set (needs a 0x00 in DER); s is short (needs padding in raw).
        let r = [UInt8](repeating: 0xFF, count: 32)
        let s = [UInt8](repeating: 0, count: 31) + [0x05]
        let der = try ECDSASignature.derSignature(fromRaw: r + s)
        #expect(der == [0x30, 0x26, 0x02, 0x21, 0x00] + r + [0x02, 0x01, 0x05])
        #expect(try ECDSASignature.rawSignature(fromDER: der, coordinateByteCount: 32) == r + s)
    }

    @Test(arguments: [
        ("long-form length", "308106020101020101"),
        ("indefinite length", "3080020101020101" + "0000"),
        ("non-minimal integer", "30070202000102010" + "1"),
        ("negative r", "3006020181020101"),
        ("zero r", "3006020100020101"),
        ("trailing bytes", "300602010102010100"),
        ("missing s", "3003020101"),
        ("extra integer", "3009020101020101020101"),
        ("wrong outer tag", "3106020101020101"),
        ("empty", ""),
    ])
    func nonDEREncodingsAreRefused(name: String, encoding: String) {
        #expect(throws: PKCS11UsageError.self, "\(name)") {
            try ECDSASignature.rawSignature(fromDER: hex(encoding), coordinateByteCount: 32)
        }
    }

    @Test func valueLongerThanTheCurveIsRefused() {
        let r = [UInt8](repeating: 0x01, count: 33)
        let der = [0x30, 0x26, 0x02, 0x21] + r + [0x02, 0x01, 0x01]
        #expect(throws: PKCS11UsageError.self) { try ECDSASignature.rawSignature(fromDER: der, coordinateByteCount: 32) }
    }

    @Test func rawOfOddLengthOrZeroIsRefused() {
        #expect(throws: PKCS11UsageError.self) { try ECDSASignature.derSignature(fromRaw: [1, 2, 3]) }
        #expect(throws: PKCS11UsageError.self) { try ECDSASignature.derSignature(fromRaw: [0, 0, 0, 1]) }
    }
}
