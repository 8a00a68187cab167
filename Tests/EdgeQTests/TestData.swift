import EdgeQ
import Foundation
import XCTest

/// Locations of the real models and images (`../shared` beside the checkout) and of the built executable.
enum TestData {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared`, or an XCTSkip naming what is missing, so a fresh clone without the data still passes.
    static func shared(_ relative: String = "") throws -> URL {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
            .appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("../shared/\(relative) not found: real-data test skipped")
        }
        return url
    }

    static func fixture(_ relative: String) -> URL {
        packageRoot.appendingPathComponent("Tests/EdgeQTests/Fixtures").appendingPathComponent(relative)
    }

    static func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The `edgeq` executable built beside the test bundle.
    static func executable() throws -> URL {
        let bundle = Bundle(for: Marker.self).bundleURL
        var directory = bundle
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("edgeq")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw TestFailure("edgeq executable not found beside \(bundle.path): run Tests/run, which builds it first")
    }

    /// Runs `edgeq` with `arguments`; returns exit status, stdout and stderr.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self),
                String(decoding: errData, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("edgeq-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    private final class Marker {}
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Test helpers on the runtime's seeded generator (Core/SplitMix64.swift).
extension SplitMix64 {
    mutating func float(in range: ClosedRange<Float>) -> Float {
        range.lowerBound + Float(next() >> 40) / Float(1 << 24) * (range.upperBound - range.lowerBound)
    }

    mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in float(in: -1...1) } }

    /// A random convolution geometry with a nonempty output, for the kernel-versus-reference tests: channel
    /// counts from `channelCounts` (or `channels`), kernels up to 5x5, strides and dilations 1–2, padding 0–2.
    mutating func convGeometry(
        channelCounts: [Int], groups: (Int, Int) -> Int, equalChannels: Bool = false,
        channels: ((inout SplitMix64) -> (Int, Int))? = nil
    ) -> ConvGeometry {
        while true {
            var (inputChannels, outputChannels) = channels?(&self)
                ?? (element(of: channelCounts), element(of: channelCounts))
            if equalChannels { outputChannels = inputChannels }
            let kernelHeight = element(of: [1, 2, 3, 3, 5]), kernelWidth = element(of: [1, 3, 3, 5])
            let g = ConvGeometry(
                inputHeight: int(1...9), inputWidth: int(1...9), inputChannels: inputChannels,
                outputChannels: outputChannels, kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                strideHeight: int(1...2), strideWidth: int(1...2), dilationHeight: int(1...2), dilationWidth: int(1...2),
                padTop: int(0...2), padLeft: int(0...2), padBottom: int(0...2), padRight: int(0...2),
                groups: groups(inputChannels, outputChannels))
            if g.outputHeight >= 1 && g.outputWidth >= 1 { return g }
        }
    }
}
