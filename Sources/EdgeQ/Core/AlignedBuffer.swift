/// Owned, zero-initialised, 64-byte-aligned memory: the model file image and the activation arena.
/// 64 bytes is a cache line and the widest vector load any kernel issues, so packed weights and arena
/// offsets that are multiples of 64 never straddle lines.
public final class AlignedBuffer {
    public static let alignment = 64
    public let count: Int
    public let base: UnsafeMutableRawPointer

    public init(count: Int) {
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: AlignedBuffer.alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
    }

    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count)
        if let source = bytes.baseAddress { base.copyMemory(from: source, byteCount: bytes.count) }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    deinit { base.deallocate() }
}
