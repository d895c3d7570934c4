import ArgumentParser
import Foundation
import KMSClient
import KMSModel

/// The aws CLI's pagination for the list commands: without `--no-paginate`
/// (or the API's own `--limit`/`--marker`) every page is fetched and the
/// lists joined; `--page-size` is the `Limit` of each call, `--max-items`
/// stops early and prints a `NextToken` that `--starting-token` resumes from.
struct KMSPaging: ParsableArguments {
    @Option(help: "Return at most this many items in all; a NextToken then resumes (with --starting-token).")
    var maxItems: Int?
    @Option(help: "Items per call to the daemon (its Limit; 1-1000) while paginating.")
    var pageSize: Int?
    @Option(help: "The NextToken printed by an earlier call with --max-items.")
    var startingToken: String?
    @Flag(help: "Make one call and print its page as it is (NextMarker, Truncated).")
    var noPaginate = false

    func validate() throws {
        if let maxItems, maxItems < 1 { throw ValidationError("--max-items must be 1 or more") }
        if let pageSize, !(1...1000).contains(pageSize) { throw ValidationError("--page-size must be from 1 to 1000") }
        if let startingToken, Token(startingToken) == nil {
            throw ValidationError("--starting-token is not a NextToken printed by p11kms")
        }
    }

    /// Where to resume: the page's marker and how many of its items were already printed.
    struct Token: Equatable {
        var marker: String?
        var skip: Int

        init(marker: String?, skip: Int) {
            self.marker = marker
            self.skip = skip
        }

        init?(_ text: String) {
            guard let data = Data(base64Encoded: text),
                  let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let skip = object["Skip"] as? Int, skip >= 0 else { return nil }
            self.init(marker: object["Marker"] as? String, skip: skip)
        }

        var text: String {
            var object: [String: Any] = ["Skip": skip]
            if let marker { object["Marker"] = marker }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return data.base64EncodedString()
        }
    }

    /// Fetches the pages `page(limit, marker)` answers and joins the `items`
    /// member of each; the result has no NextMarker or Truncated, and a
    /// NextToken when `--max-items` cut it short.
    func collect<Response: Encodable>(items member: String,
                                      _ page: (Int?, String?) async throws -> Response) async throws -> KMSJSONValue {
        var position = startingToken.flatMap(Token.init) ?? Token(marker: nil, skip: 0)
        var joined: [KMSJSONValue] = []
        var last: [String: KMSJSONValue] = [:]
        var nextToken: Token?
        while true {
            let answer = try KMSJSONValue.from(try await page(pageSize, position.marker))
            guard case .object(let object) = answer, case .array(let all)? = object[member] else {
                throw ValidationError("the daemon's answer has no \(member) list")
            }
            last = object
            let fresh = Array(all.dropFirst(position.skip))
            let truncated = object["Truncated"] == .bool(true)
            let next = object["NextMarker"].flatMap { if case .string(let s) = $0 { s } else { nil } }
            if let maxItems, joined.count + fresh.count >= maxItems {
                let taken = maxItems - joined.count
                joined += fresh.prefix(taken)
                if taken < fresh.count {
                    nextToken = Token(marker: position.marker, skip: position.skip + taken)
                } else if truncated, let next {
                    nextToken = Token(marker: next, skip: 0)
                }
                break
            }
            joined += fresh
            guard truncated, let next else { break }
            position = Token(marker: next, skip: 0)
        }
        last[member] = .array(joined)
        last["NextMarker"] = nil
        last["Truncated"] = nil
        if let nextToken { last["NextToken"] = .string(nextToken.text) }
        return .object(last)
    }
}

extension KMSOptions {
    /// A list command: one page when asked (`--no-paginate`, or the API's
    /// `--limit`/`--marker`), else every page as the aws CLI does.
    func callPaginated<Response: Encodable>(
        _ operation: KMSOperation, items: String, paging: KMSPaging, limit: Int?, marker: String?,
        _ page: @escaping @Sendable (KMSClient, Int?, String?) async throws -> Response
    ) async throws {
        if paging.noPaginate || limit != nil || marker != nil {
            try await call(operation) { try await page($0, limit, marker) }
            return
        }
        try await call(operation) { client in
            try await paging.collect(items: items) { limit, marker in try await page(client, limit, marker) }
        }
    }
}

extension KMSJSONValue {
    static func from<Value: Encodable>(_ value: Value) throws -> KMSJSONValue {
        if let value = value as? KMSJSONValue { return value }
        return try AWSJSONCodec.makeDecoder().decode(KMSJSONValue.self, from: AWSJSONCodec.encode(value))
    }
}
