import PKCS11
import SoftHSMTestSupport
import Testing

/// A fresh token and a logged-in session on it, for one test.
struct Fixture {
    let token: TestToken
    let session: Session

    static func make() throws -> Fixture {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        return Fixture(token: token, session: try token.openUserSession())
    }

    func close() { try? session.close() }
}

func withFixture<R>(_ body: (Fixture) throws -> R) throws -> R {
    let fixture = try Fixture.make()
    defer { fixture.close() }
    return try body(fixture)
}

func hex(_ s: String) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(s.count / 2)
    var index = s.startIndex
    while index < s.endIndex {
        let next = s.index(index, offsetBy: 2)
        bytes.append(UInt8(s[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
