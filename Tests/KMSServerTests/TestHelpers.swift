import Foundation
import KMSModel
import Testing

/// Expects `body` to throw a `KMSError` called `name`, and returns it.
@discardableResult
func expectKMSError<T>(_ name: KMSError.Name, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> T) -> KMSError? {
    do {
        let value = try body()
        Issue.record("expected \(name.rawValue), got a value: \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as KMSError {
        #expect(error.name == name, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(name.rawValue), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A JSON object from bytes, or an empty dictionary.
func jsonObject(_ data: Data) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
}
