// libFuzzer entry point for the ONNX importer (protobuf reader, decoding, lowering, fusion, packing).
// Not part of the package; build from the package root (see /work/shared/notes/fuzzing.md):
//
//   out=fuzz-onnx; mkdir -p $out
//   swiftc -parse-as-library -sanitize=fuzzer,address -emit-module -emit-library -static \
//       -module-name EdgeQ -emit-module-path $out/EdgeQ.swiftmodule -o $out/libEdgeQ.a \
//       Sources/EdgeQ/Model/Graph.swift Sources/EdgeQ/Core/EdgeQError.swift \
//       Sources/EdgeQ/Kernels/Activation.swift Sources/EdgeQ/Kernels/WeightPacking.swift
//   swiftc -parse-as-library -sanitize=fuzzer,address -I $out -L $out -lEdgeQ -module-name ONNXFuzz \
//       Quantizer/GraphBuilder.swift Quantizer/ONNX/*.swift Tests/fuzz/ONNXFuzz.swift -o $out/onnx-fuzz
//   mkdir -p $out/corpus && cp Tests/EdgeQTests/Fixtures/onnx/*.onnx $out/corpus/
//   SWIFT_BACKTRACE=enable=no $out/onnx-fuzz -max_total_time=300 -max_len=65536 $out/corpus
//
// Every input must either import or throw an EdgeQError; a trap, sanitizer report or timeout is a bug.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXImport(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? importONNX(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
