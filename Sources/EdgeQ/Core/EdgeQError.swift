/// The one error type of the runtime. Embedded Swift has no `any Error`, so every throwing function in the
/// runtime uses typed throws `throws(EdgeQError)`; the message names the problem for a one-line CLI error.
public struct EdgeQError: Error {
    public enum Kind: UInt8 {
        case invalidModel      // malformed, truncated or inconsistent model file (ONNX or .eqm)
        case unsupported       // well-formed input that EdgeQ does not handle (op, JPEG mode, format version)
        case invalidImage      // corrupt or truncated image
        case invalidInput      // wrong tensor size or shape given to a model
        case io                // file system
        case invalidArgument   // command-line usage
        case selfCheckFailed   // a kernel differs from its reference (`edgeq selftest`)
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var kindName: String {
        switch kind {
        case .invalidModel: return "invalid model"
        case .unsupported: return "unsupported"
        case .invalidImage: return "invalid image"
        case .invalidInput: return "invalid input"
        case .io: return "i/o error"
        case .invalidArgument: return "invalid argument"
        case .selfCheckFailed: return "self-check failed"
        }
    }

    /// `kind: message`, the form the CLI prints after `error: `.
    public var description: String { kindName + ": " + message }
}
