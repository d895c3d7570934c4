import Foundation
import Testing
@testable import KMSCore

/// The ciphertext header's key-id bytes come from our own UUID parser (the
/// request path avoids Foundation's sscanf-based one); it must agree with
/// Foundation on every well-formed id and refuse everything Foundation
/// refuses, and more: Foundation's sscanf skips leading white space.
@Suite struct KeyIdentifierTests {
    private func foundation(_ text: String) -> [UInt8]? {
        UUID(uuidString: text).map { u in withUnsafeBytes(of: u.uuid) { Array($0) } }
    }

    @Test func agreesWithFoundationOnRandomIDs() {
        for _ in 0..<500 {
            let id = UUID().uuidString
            #expect(KeyIdentifier.uuidBytes(id) == foundation(id))
            #expect(KeyIdentifier.uuidBytes(id.lowercased()) == foundation(id))
            let bytes = KeyIdentifier.uuidBytes(id.lowercased())!
            #expect(KeyIdentifier.keyID(fromUUIDBytes: bytes[...]) == id.lowercased())
        }
    }

    @Test(arguments: [
        "", "1234", "b2be8ada-75a6-4d0b-a3a6-8e6ff2dc7f4", "b2be8ada-75a6-4d0b-a3a6-8e6ff2dc7f444",
        "b2be8ada75a6-4d0b-a3a6-8e6ff2dc7f44a", "b2be8ada-75a6-4d0b-a3a6-8e6ff2dc7f4g",
        "b2be8ada_75a6-4d0b-a3a6-8e6ff2dc7f44",
        "b2be8ada-75a6-4d0b-a3a6-8e6ff2dc7fé", "alias/b2be8ada-75a6-4d0b-a3a6-8e6ff2",
    ])
    func refusesWhatFoundationRefuses(_ text: String) {
        #expect(foundation(text) == nil)
        #expect(KeyIdentifier.uuidBytes(text) == nil)
    }

    /// A key id is exactly 36 characters; sscanf would read " 2be8ada-…" as
    /// the id 02be8ada-…, which names no key AWS would accept.
    @Test func refusesWhiteSpaceFoundationSkips() {
        let text = " 2be8ada-75a6-4d0b-a3a6-8e6ff2dc7f44"
        #expect(foundation(text) != nil)
        #expect(KeyIdentifier.uuidBytes(text) == nil)
    }
}
