import Foundation
import KMSModel

/// The operations of AWS's model this service does not perform, each
/// refused with UnsupportedOperationException and what to do instead, so no
/// operation of the model is an UnknownOperationException. Nothing is
/// performed and no key is looked up.
enum Refusals {
    static func reason(for operation: KMSOperation) -> String? {
        switch operation {
        case .replicateKey:
            "This service has one region (its ARNs name it); there is no other region to replicate a key to, and "
                + "Multi-Region keys are not supported. Create a key in each p11kmsd and re-encrypt data across them."
        case .updatePrimaryRegion:
            "This service has one region and no Multi-Region keys, so no key has a primary region to move."
        default:
            nil
        }
    }

    static func refuses(_ operation: KMSOperation) -> Bool {
        reason(for: operation) != nil
    }

    /// The refusal of `operation`, after checking the body is a strict JSON object.
    static func refuse(_ operation: KMSOperation, body: Data) throws -> Never {
        _ = try AWSJSONCodec.decode(EmptyResponse.self, from: body)
        throw KMSError.unsupported(reason(for: operation) ?? "\(operation.rawValue) is not supported.")
    }
}
