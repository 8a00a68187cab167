import EdgeQ

// The parts of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) that the importer reads,
// decoded from the wire format. Field numbers are onnx.proto's; fields not listed are skipped.

struct ONNXModel {
    struct OpsetImport {
        var domain = ""
        var version: Int64 = 0
    }

    var irVersion: Int64 = 0
    var opsetImports: [OpsetImport] = []
    var producerName = ""
    var producerVersion = ""
    var graph: ONNXGraph?

    init(decoding bytes: [UInt8]) throws(EdgeQError) {
        var reader = ProtobufReader(bytes, message: "ModelProto")
        while let field = try reader.nextField() {
            switch field {
            case 1: irVersion = try reader.readInt64()
            case 2: producerName = try reader.readString()
            case 3: producerVersion = try reader.readString()
            case 7: graph = try ONNXGraph(from: reader.readMessage("GraphProto"))
            case 8: opsetImports.append(try OpsetImport(from: reader.readMessage("OperatorSetIdProto")))
            default: try reader.skipField()
            }
        }
    }
}

extension ONNXModel.OpsetImport {
    init(from reader: consuming ProtobufReader) throws(EdgeQError) {
        while let field = try reader.nextField() {
            switch field {
            case 1: domain = try reader.readString()
            case 2: version = try reader.readInt64()
            default: try reader.skipField()
            }
        }
    }
}

struct ONNXGraph {
    var name = ""
    var nodes: [ONNXNode] = []
    var initializers: [ONNXTensor] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
    var valueInfo: [ONNXValueInfo] = []

    init(from reader: consuming ProtobufReader) throws(EdgeQError) {
        while let field = try reader.nextField() {
            switch field {
            case 1: nodes.append(try ONNXNode(from: reader.readMessage("NodeProto")))
            case 2: name = try reader.readString()
            case 5: initializers.append(try ONNXTensor(from: reader.readMessage("TensorProto")))
            case 11: inputs.append(try ONNXValueInfo(from: reader.readMessage("ValueInfoProto")))
            case 12: outputs.append(try ONNXValueInfo(from: reader.readMessage("ValueInfoProto")))
            case 13: valueInfo.append(try ONNXValueInfo(from: reader.readMessage("ValueInfoProto")))
            default: try reader.skipField()
            }
        }
    }
}

struct ONNXNode {
    var inputs: [String] = []
    var outputs: [String] = []
    var name = ""
    var opType = ""
    var domain = ""
    var attributes: [ONNXAttribute] = []

    init(from reader: consuming ProtobufReader) throws(EdgeQError) {
        while let field = try reader.nextField() {
            switch field {
            case 1: inputs.append(try reader.readString())
            case 2: outputs.append(try reader.readString())
            case 3: name = try reader.readString()
            case 4: opType = try reader.readString()
            case 5: attributes.append(try ONNXAttribute(from: reader.readMessage("AttributeProto")))
            case 7: domain = try reader.readString()
            default: try reader.skipField()
            }
        }
    }
}

struct ONNXAttribute {
    /// AttributeProto.AttributeType; only the kinds an importer can use are named.
    enum Kind: Int32 {
        case undefined = 0
        case float = 1
        case int = 2
        case string = 3
        case tensor = 4
        case graph = 5
        case floats = 6
        case ints = 7
        case strings = 8
        case tensors = 9
        case graphs = 10
        case sparseTensor = 11
        case sparseTensors = 12
        case typeProto = 13
        case typeProtos = 14
    }

    var name = ""
    /// The raw `type` field; an unknown value stays unknown instead of failing the whole file.
    var type: Int32 = 0
    var f: Float = 0
    var i: Int64 = 0
    var s = ""
    var t: ONNXTensor?
    var floats: [Float] = []
    var ints: [Int64] = []

    var kind: Kind? { Kind(rawValue: type) }

    init(from reader: consuming ProtobufReader) throws(EdgeQError) {
        while let field = try reader.nextField() {
            switch field {
            case 1: name = try reader.readString()
            case 2: f = try reader.readFloat()
            case 3: i = try reader.readInt64()
            case 4: s = try reader.readString()
            case 5: t = try ONNXTensor(from: reader.readMessage("TensorProto"))
            case 7: try reader.readFloats(into: &floats)
            case 8: try reader.readVarints(into: &ints)
            case 20: type = try reader.readInt32()
            default: try reader.skipField()  // lists of strings, tensors and graphs; graphs; doc strings
            }
        }
    }
}

struct ONNXTensor {
    var name = ""
    var dims: [Int64] = []
    /// TensorProto.DataType.
    var dataType: Int32 = 0
    var floatData: [Float] = []
    /// int32_data holds every type narrower than 32 bits too (and float16 bit patterns).
    var int32Data: [Int64] = []
    var int64Data: [Int64] = []
    var doubleData: [Double] = []
    /// uint32 and uint64 values as 64-bit patterns.
    var uint64Data: [Int64] = []
    /// Little-endian elements, a slice of the file (not copied).
    var rawData: ArraySlice<UInt8>?

    init(from reader: consuming ProtobufReader) throws(EdgeQError) {
        var isExternal = false
        while let field = try reader.nextField() {
            switch field {
            case 1: try reader.readVarints(into: &dims)
            case 2: dataType = try reader.readInt32()
            case 4: try reader.readFloats(into: &floatData)
            case 5: try reader.readVarints(into: &int32Data)
            case 7: try reader.readVarints(into: &int64Data)
            case 8: name = try reader.readString()
            case 9: rawData = try reader.readBytes()
            case 10: try reader.readDoubles(into: &doubleData)
            case 11: try reader.readVarints(into: &uint64Data)
            case 13:
                isExternal = true
                try reader.skipField()
            case 14:
                let location = try reader.readInt32()
                isExternal = isExternal || location == 1  // DataLocation.EXTERNAL
            default: try reader.skipField()
            }
        }
        if isExternal {
            throw EdgeQError(.unsupported, "external data tensors are not supported: tensor '\(name)'")
        }
    }
}

struct ONNXValueInfo {
    enum Dimension: Equatable {
        case value(Int64)
        case parameter(String)
        case unknown
    }

    var name = ""
    /// TensorProto.DataType of a tensor type; 0 when absent (or not a tensor).
    var elementType: Int32 = 0
    /// nil when the shape is not given at all.
    var shape: [Dimension]?

    init(from reader: consuming ProtobufReader) throws(EdgeQError) {
        while let field = try reader.nextField() {
            switch field {
            case 1: name = try reader.readString()
            case 2: try decodeType(reader.readMessage("TypeProto"))
            default: try reader.skipField()
            }
        }
    }

    private mutating func decodeType(_ reader: consuming ProtobufReader) throws(EdgeQError) {
        while let field = try reader.nextField() {
            if field == 1 {
                try decodeTensorType(reader.readMessage("TypeProto.Tensor"))
            } else {
                try reader.skipField()  // sequence, map, optional, sparse: not importable tensors
            }
        }
    }

    private mutating func decodeTensorType(_ reader: consuming ProtobufReader) throws(EdgeQError) {
        while let field = try reader.nextField() {
            switch field {
            case 1: elementType = try reader.readInt32()
            case 2: shape = try Self.decodeShape(reader.readMessage("TensorShapeProto"))
            default: try reader.skipField()
            }
        }
    }

    private static func decodeShape(_ reader: consuming ProtobufReader) throws(EdgeQError) -> [Dimension] {
        var dims: [Dimension] = []
        while let field = try reader.nextField() {
            guard field == 1 else {
                try reader.skipField()
                continue
            }
            var dimension = try reader.readMessage("TensorShapeProto.Dimension")
            var dim = Dimension.unknown
            while let dimField = try dimension.nextField() {
                switch dimField {
                case 1: dim = .value(try dimension.readInt64())
                case 2: dim = .parameter(try dimension.readString())
                default: try dimension.skipField()
                }
            }
            dims.append(dim)
        }
        return dims
    }
}
