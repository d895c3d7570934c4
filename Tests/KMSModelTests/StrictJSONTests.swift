import Foundation
import KMSModel
import Testing

@Suite("Strict JSON: RFC 8259 and no duplicate members")
struct StrictJSONTests {
    struct Refused: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let text: String
        let reason: String
        let line: Int
        let column: Int
    }

    static let refused: [Refused] = [
        .init(testDescription: "trailing comma in an object", text: #"{"NumberOfBytes": 32,}"#,
              reason: "trailing comma in an object", line: 1, column: 22),
        .init(testDescription: "trailing comma in an array", text: #"{"a": [1, 2,]}"#,
              reason: "trailing comma in an array", line: 1, column: 13),
        .init(testDescription: "duplicate member", text: "{\"Effect\": \"Allow\",\n \"Effect\": \"Deny\"}",
              reason: #"duplicate member name "Effect""#, line: 2, column: 2),
        .init(testDescription: "duplicate after unescaping", text: #"{"a": 1, "\u0061": 2}"#,
              reason: #"duplicate member name "a""#, line: 1, column: 10),
        .init(testDescription: "duplicate in a nested object", text: #"{"x": {"k": 1, "k": 1}}"#,
              reason: #"duplicate member name "k""#, line: 1, column: 16),
        .init(testDescription: "comment", text: "{\"a\": 1 /* no */}", reason: "expected ',' or '}' in an object", line: 1, column: 9),
        .init(testDescription: "leading zero", text: #"{"a": 01}"#, reason: "a number with a leading zero", line: 1, column: 8),
        .init(testDescription: "NaN", text: #"{"a": NaN}"#, reason: "unexpected character", line: 1, column: 7),
        .init(testDescription: "single quotes", text: "{'a': 1}", reason: "expected a member name", line: 1, column: 2),
        .init(testDescription: "control character in a string", text: "{\"a\": \"x\ty\"}",
              reason: "unescaped control character in a string", line: 1, column: 9),
        .init(testDescription: "lone surrogate", text: #"{"a": "\ud800"}"#,
              reason: "a high surrogate escape without its low half", line: 1, column: 14),
        .init(testDescription: "bad escape", text: #"{"a": "\x41"}"#, reason: "invalid escape sequence", line: 1, column: 9),
        .init(testDescription: "two values", text: #"{"a": 1} {"b": 2}"#,
              reason: "unexpected text after the JSON value", line: 1, column: 10),
        .init(testDescription: "not an object", text: "[1]", reason: "the document is not a JSON object", line: 1, column: 1),
        .init(testDescription: "empty", text: "  ", reason: "empty document", line: 1, column: 3),
        .init(testDescription: "unterminated", text: #"{"a": "b"#, reason: "unterminated string", line: 1, column: 9),
    ]

    @Test(arguments: refused)
    func refuses(_ c: Refused) {
        #expect(throws: StrictJSON.SyntaxError(reason: c.reason, line: c.line, column: c.column)) {
            try StrictJSON.validate(Array(c.text.utf8))
        }
    }

    @Test(arguments: [
        #"{}"#,
        #" {"a": [1, -2.5e+3, 0, 0.5, true, false, null, "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {"a": {}}} "#,
        #"{"a": 1, "A": 2, "é": 3, "e\u0301": 4}"#,
        "{\"emoji\": \"😀\", \"nested\": [[[]]]}",
    ])
    func accepts(_ text: String) throws {
        try StrictJSON.validate(Array(text.utf8))
        // And Foundation agrees these are JSON.
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: StrictJSON.SyntaxError.self) { try StrictJSON.validate(Array(deep.utf8), topLevel: .any) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try StrictJSON.validate(Array(fine.utf8), topLevel: .any) }
    }

    @Test func invalidUTF8InAStringIsRefused() {
        let bytes: [UInt8] = Array(#"{"a": ""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: StrictJSON.SyntaxError.self) { try StrictJSON.validate(bytes) }
    }

    @Test("request bodies: a trailing comma or a duplicate member is a SerializationException")
    func requestBodies() {
        for body in [#"{"NumberOfBytes": 32,}"#, #"{"NumberOfBytes": 32, "NumberOfBytes": 1024}"#] {
            let error = expectKMSError(.serialization) {
                try AWSJSONCodec.decode(GenerateRandomRequest.self, from: Data(body.utf8))
            }
            #expect(error?.message.contains("line 1") == true, "\(String(describing: error))")
        }
    }
}
