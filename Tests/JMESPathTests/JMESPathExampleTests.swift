import Testing
@testable import JMESPath

/// Examples from the JMESPath tutorial and the aws CLI's common queries.
/// The specification's compliance suite is not in the repository yet.
struct JMESPathExampleTests {
    static let data = """
    {"Keys":[{"KeyId":"a","n":3},{"KeyId":"b","n":1}],
     "Aliases":[{"AliasName":"alias/x","TargetKeyId":"a"},{"AliasName":"alias/y","TargetKeyId":"b"}]}
    """

    static let cases: [(String, String)] = [
        ("Keys[].KeyId", #"["a","b"]"#),
        ("Keys[*].KeyId", #"["a","b"]"#),
        ("Aliases[?TargetKeyId==`\"a\"`].AliasName", #"["alias/x"]"#),
        ("Aliases[?TargetKeyId=='b'] | [0].AliasName", #""alias/y""#),
        ("sort_by(Keys, &n)[*].KeyId", #"["b","a"]"#),
        ("length(Keys)", "2"),
        ("Keys[-1].KeyId", #""b""#),
        ("Keys[0:1].KeyId", #"["a"]"#),
        ("{ids: Keys[].KeyId, c: length(Aliases)}", #"{"ids":["a","b"],"c":2}"#),
        ("[Keys[0].KeyId, Aliases[1].AliasName]", #"["a","alias/y"]"#),
        ("Keys[?n > `1`].KeyId", #"["a"]"#),
        ("Keys[?n >= `1` && KeyId != 'a'].KeyId", #"["b"]"#),
        ("max_by(Keys, &n).KeyId", #""a""#),
        ("Aliases[?starts_with(AliasName, 'alias/y')].TargetKeyId", #"["b"]"#),
        ("Aliases[?contains(AliasName, 'x')].TargetKeyId", #"["a"]"#),
        ("Keys[].n | sum(@)", "4"),
        ("join(', ', Keys[].KeyId)", #""a, b""#),
        ("missing.field", "null"),
    ]

    @Test(arguments: cases)
    func example(expression: String, expected: String) throws {
        let got = try JMESPath(expression).search(JMESValue.parse(json: Self.data))
        #expect(got == (try JMESValue.parse(json: expected)), "\(expression) gave \(got.json)")
    }

    @Test func syntaxErrorsAreSyntaxKind() {
        for e in ["foo[", "a ==", "[?a==]", "foo.", "'unterminated"] {
            #expect(throws: JMESPathError.self) { try JMESPath(e) }
        }
    }

    @Test func sliceStepZeroIsInvalidValue() throws {
        #expect(throws: JMESPathError.invalidValue("slice step cannot be 0")) {
            try JMESPath("[::0]").search(.array([]))
        }
    }
}
