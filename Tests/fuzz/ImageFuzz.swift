// libFuzzer entry point for the image decoders and the preprocessing (see ../shared/notes/fuzzing.md).
// Build and run from the package root:
//   swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name EdgeQ Tests/fuzz/ImageFuzz.swift \
//       Sources/EdgeQ/Core/EdgeQError.swift Sources/EdgeQ/Image/*.swift -o /tmp/image-fuzz
//   mkdir -p /tmp/image-corpus && cp Tests/EdgeQTests/Fixtures/images/*.jpg /tmp/image-corpus/
//   SWIFT_BACKTRACE=enable=no /tmp/image-fuzz -max_len=65536 -max_total_time=300 /tmp/image-corpus
// -O matters: it removes the debug bounds checks of unsafe buffers, so AddressSanitizer sees what a release
// build would read or write.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let image = try? decodeImage(bytes) else { return 0 }
    precondition(image.pixels.count == image.width * image.height * 3, "pixel count")
    // Resizing every decoded image would dominate the run time; small ones cover the same code.
    if image.width * image.height <= 1 << 16 {
        precondition(imageNetInputNHWC(image, size: 16).count == 16 * 16 * 3, "model input size")
    }
    return 0
}
