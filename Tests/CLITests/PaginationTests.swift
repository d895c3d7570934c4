import DaemonTestSupport
import Foundation
import Testing

/// The list commands paginate as `aws kms` does (issue #20).
@Suite("CLI pagination", .serialized)
struct PaginationTests {
    @Test func listKeysReturnsEveryPageAndResumesFromANextToken() async throws {
        let daemon = try await DaemonProcess()
        defer { daemon.removeState() }
        var created: Set<String> = []
        var target = ""
        for i in 0..<250 {
            let (status, body) = try daemon.callJSON("CreateKey", ["Description": "page test \(i)"])
            #expect(status == 200)
            let id = (body["KeyMetadata"] as? [String: Any])?["KeyId"] as? String ?? ""
            created.insert(id)
            if i == 0 { target = id }
            if i < 3 {
                #expect(try daemon.callJSON("CreateAlias", ["AliasName": "alias/page-\(i)", "TargetKeyId": target]).0 == 200)
            }
        }
        #expect(created.count == 250)
        let cli = try DaemonProcess.cli()
        func run(_ arguments: [String]) async throws -> (Int32, String) {
            try await DaemonProcess.run(cli, arguments + ["--socket", daemon.socketPath])
        }

        // All 250, across the daemon's 100-key pages.
        let (status, text) = try await run(["list-keys", "--query", "Keys[].KeyId", "--output", "text"])
        #expect(status == 0)
        let ids = text.split(whereSeparator: { $0 == "\t" || $0 == "\n" }).map(String.init)
        #expect(ids.count == 250 && Set(ids) == created)

        // --max-items stops with a NextToken; --starting-token resumes without loss or repeat.
        let (_, first) = try await run(["list-keys", "--max-items", "120", "--page-size", "50"])
        let firstPage = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        let firstIDs = (firstPage["Keys"] as? [[String: Any]] ?? []).compactMap { $0["KeyId"] as? String }
        #expect(firstIDs.count == 120)
        #expect(firstPage["Truncated"] == nil && firstPage["NextMarker"] == nil)
        let token = try #require(firstPage["NextToken"] as? String)
        let (_, rest) = try await run(["list-keys", "--starting-token", token, "--max-items", "1000", "--query", "Keys[].KeyId",
                                 "--output", "json"])
        let restIDs = try #require(try JSONSerialization.jsonObject(with: Data(rest.utf8)) as? [String])
        #expect(restIDs.count == 130)
        #expect(Set(firstIDs + restIDs) == created)

        // --no-paginate (or --limit) is one page, as the API gives it.
        let (_, one) = try await run(["list-keys", "--no-paginate"])
        let page = try #require(try JSONSerialization.jsonObject(with: Data(one.utf8)) as? [String: Any])
        #expect((page["Keys"] as? [Any])?.count == 100 && page["Truncated"] as? Bool == true && page["NextMarker"] != nil)

        // A filter over every alias.
        let (_, aliases) = try await run(["list-aliases", "--query", "Aliases[?TargetKeyId=='\(target)'].AliasName", "--output", "text"])
        #expect(aliases.split(whereSeparator: \.isWhitespace).sorted() == ["alias/page-0", "alias/page-1", "alias/page-2"],
                "\(aliases)")

        let (badStatus, _) = try await run(["list-keys", "--starting-token", "not-a-token"])
        #expect(badStatus == 2)
        #expect(try await daemon.stop() == 0)
    }
}
