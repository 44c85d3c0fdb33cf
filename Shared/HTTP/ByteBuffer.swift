import Glibc

/// A growable byte buffer with a read cursor: bytes are appended at the end and consumed from the front.
///
/// Consumed bytes are reclaimed by `discardReadBytes()`, which the connection calls between reads so a
/// long keep-alive connection does not grow its buffer.
public struct ByteBuffer: Sendable {
    public private(set) var storage: [UInt8]
    public private(set) var readerIndex: Int = 0

    public init(capacity: Int = 0) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    public init(_ bytes: some Sequence<UInt8>) {
        storage = Array(bytes)
    }

    public init(string: String) {
        storage = Array(string.utf8)
    }

    /// Bytes appended and not yet consumed.
    public var readableCount: Int { storage.count - readerIndex }

    public var readableBytes: ArraySlice<UInt8> { storage[readerIndex...] }

    public mutating func append(contentsOf bytes: some Sequence<UInt8>) {
        storage.append(contentsOf: bytes)
    }

    public mutating func append(_ pointer: UnsafeRawBufferPointer) {
        storage.append(contentsOf: pointer.bindMemory(to: UInt8.self))
    }

    /// Marks `count` readable bytes as consumed.
    public mutating func moveReaderIndex(forwardBy count: Int) {
        precondition(count <= readableCount, "cannot consume more than is readable")
        readerIndex += count
        if readerIndex == storage.count {
            storage.removeAll(keepingCapacity: true)
            readerIndex = 0
        }
    }

    /// Consumes up to `count` bytes, appending them to `destination`; returns how many.
    ///
    /// No slice of the storage outlives the call: when the buffer empties, its storage is reset in place
    /// rather than copied away from a slice still holding it.
    @discardableResult
    public mutating func read(upTo count: Int, appendingTo destination: inout [UInt8]) -> Int {
        let n = min(count, readableCount)
        storage.withUnsafeBufferPointer { all in
            destination.append(contentsOf: UnsafeBufferPointer(rebasing: all[readerIndex..<(readerIndex + n)]))
        }
        moveReaderIndex(forwardBy: n)
        return n
    }

    /// The offset, counted from the reader index, of the first `byte` at or after `from`, or nil.
    public func firstIndex(of byte: UInt8, from: Int = 0) -> Int? {
        guard from < readableCount else { return nil }
        return storage.withUnsafeBytes { raw -> Int? in
            let start = raw.baseAddress! + readerIndex + from
            guard let found = memchr(start, Int32(byte), readableCount - from) else { return nil }
            return UnsafeRawPointer(found) - UnsafeRawPointer(raw.baseAddress! + readerIndex)
        }
    }

    /// The first `count` readable bytes, not consumed: a view of the storage, for parsing in place.
    public func peek(_ count: Int) -> ArraySlice<UInt8> {
        storage[readerIndex..<(readerIndex + count)]
    }

    /// The readable byte at `offset` from the reader index.
    public subscript(offset: Int) -> UInt8 {
        storage[readerIndex + offset]
    }

    /// Drops consumed bytes from the front when they make up more than half the storage.
    public mutating func discardReadBytes() {
        if readerIndex > 0 && readerIndex * 2 >= storage.count {
            storage.removeFirst(readerIndex)
            readerIndex = 0
        }
    }
}
