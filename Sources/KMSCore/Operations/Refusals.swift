import Foundation
import KMSModel

/// The operations of AWS's model this service does not perform, each
/// refused with UnsupportedOperationException and what to do instead, so no
/// operation of the model is an UnknownOperationException. Nothing is
/// performed and no key is looked up.
enum Refusals {
    static let customKeyStores = "Custom key stores (extra PKCS#11 tokens as AWS_CLOUDHSM key stores) are not implemented "
        + "in this version: every key lives on the token the daemon is configured with. To use another token, run a "
        + "second p11kmsd configured for it."

    static func reason(for operation: KMSOperation) -> String? {
        switch operation {
        case .replicateKey:
            "This service has one region (its ARNs name it); there is no other region to replicate a key to, and "
                + "Multi-Region keys are not supported. Create a key in each p11kmsd and re-encrypt data across them."
        case .updatePrimaryRegion:
            "This service has one region and no Multi-Region keys, so no key has a primary region to move."
        case .connectCustomKeyStore, .describeCustomKeyStores, .updateCustomKeyStore, .disconnectCustomKeyStore,
             .deleteCustomKeyStore:
            customKeyStores
        default:
            nil
        }
    }

    /// CreateCustomKeyStore names its type, and an external key store gets its own answer.
    struct CreateCustomKeyStoreProbe: Decodable {
        var customKeyStoreType: String?
    }

    static func refuses(_ operation: KMSOperation) -> Bool {
        operation == .createCustomKeyStore || reason(for: operation) != nil
    }

    /// The refusal of `operation`, after checking the body is a strict JSON object.
    static func refuse(_ operation: KMSOperation, body: Data) throws -> Never {
        if operation == .createCustomKeyStore { try createCustomKeyStore(body) }
        _ = try AWSJSONCodec.decode(EmptyResponse.self, from: body)
        throw KMSError.unsupported(reason(for: operation) ?? "\(operation.rawValue) is not supported.")
    }

    private static func createCustomKeyStore(_ body: Data) throws -> Never {
        let probe = try AWSJSONCodec.decode(CreateCustomKeyStoreProbe.self, from: body)
        if probe.customKeyStoreType == "EXTERNAL_KEY_STORE" {
            throw KMSError.unsupported("EXTERNAL_KEY_STORE is not supported: p11kmsd does not use keys held by another key "
                + "manager. The other way round is the XKS proxy feature: p11kmsd's XKS proxy endpoint lets AWS KMS use "
                + "keys in this HSM as an external key store.")
        }
        throw KMSError.unsupported(customKeyStores)
    }
}
