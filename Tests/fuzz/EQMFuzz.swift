// libFuzzer entry point for the .eqm reader and the planner (see ../shared/notes/fuzzing.md).
// The fuzzer's bytes get a correct size field and checksum before parsing: otherwise almost every mutation
// stops at the checksum and the structural checks behind it are never reached. A model that passes loading
// and planning is also run once, so a check missing from validation shows up as a crash in a kernel.
// Build and run from the package root:
//   swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name EdgeQ Tests/fuzz/EQMFuzz.swift \
//       $(find Sources/EdgeQ -name '*.swift') -o /tmp/eqm-fuzz
//   mkdir -p /tmp/eqm-corpus && .build/release/edgeq demo --dir /tmp/eqm-corpus >/dev/null
//   SWIFT_BACKTRACE=enable=no /tmp/eqm-fuzz -max_len=200000 -max_total_time=300 /tmp/eqm-corpus

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEQM(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard bytes.count >= 64 else { return 0 }
    for i in 0..<8 { bytes[16 + i] = UInt8(truncatingIfNeeded: UInt64(bytes.count) >> (8 * UInt64(i))) }
    let crc = bytes.withUnsafeBytes { EQM.checksum($0) }
    for i in 0..<4 { bytes[24 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
    guard let model = try? Model(bytes: bytes), let interpreter = try? Interpreter(model: model) else { return 0 }
    // Big graphs would dominate the run time; small ones reach the same code.
    if interpreter.arenaBytes < 1 << 22 { interpreter.invoke() }
    return 0
}
