// swift-tools-version:6.0
// EdgeQ: a quantized edge inference runtime. No package dependencies: toolchain only.
import PackageDescription

let package = Package(
    name: "EdgeQ",
    products: [
        .executable(name: "edgeq", targets: ["edgeq"]),
        .executable(name: "edgeq-device", targets: ["edgeq-device"]),
        .library(name: "EdgeQ", targets: ["EdgeQ"]),
    ],
    targets: [
        // OS services the device binary needs (files, clock, output); plain C, no libc++.
        .target(name: "CEdgeQPlatform", path: "Sources/CEdgeQPlatform"),
        // The Armv8.2 dot-product instruction for the int8 kernels: one header (why: Kernels/Int8/I8GEMM.swift).
        .target(name: "CEdgeQDot", path: "Sources/CEdgeQDot"),
        // The runtime: model file, plan, kernels, image decoding. Must also build as Embedded Swift.
        .target(name: "EdgeQ", dependencies: ["CEdgeQDot"], path: "Sources/EdgeQ"),
        // Commands shared by the host and the device executables (run, eval, bench, inspect).
        .target(name: "EdgeQCLI", dependencies: ["EdgeQ", "CEdgeQPlatform"], path: "Sources/EdgeQCLI"),
        // Host side: activation statistics, range selection and the editable range table (no dependencies).
        .target(name: "EdgeQCalibration", path: "Calibration", exclude: ["README.md"]),
        // Host side: ONNX import, graph rewrites, model writing.
        .target(name: "EdgeQQuantizer", dependencies: ["EdgeQ", "EdgeQCalibration"], path: "Quantizer"),
        .executableTarget(
            name: "edgeq", dependencies: ["EdgeQ", "EdgeQCLI", "EdgeQQuantizer"], path: "Sources/edgeq"),
        // The Raspberry Pi executable (run, eval, bench, inspect): a C main that checks the CPU, then the Swift
        // entry. Targets/build PROFILE cross-builds it as a static Embedded Swift binary; it also builds here.
        .target(name: "EdgeQDevice", dependencies: ["EdgeQ", "EdgeQCLI"], path: "Sources/EdgeQDevice"),
        .executableTarget(
            name: "edgeq-device", dependencies: ["EdgeQDevice"], path: "Sources/edgeq-device",
            linkerSettings: [.linkedLibrary("m")]),
        .testTarget(
            name: "EdgeQTests", dependencies: ["EdgeQ", "EdgeQCLI", "EdgeQQuantizer", "EdgeQCalibration"], path: "Tests/EdgeQTests", exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
