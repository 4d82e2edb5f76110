import Glibc

/// Memory that C owns or fills: what a C library allocated and handed over, and memory that
/// held a secret.
package enum CMemory {
    /// The NUL-terminated string at `pointer`, which a C library allocated and handed to the
    /// caller (a PAM answer): copied, its bytes overwritten with zeros, then freed.
    /// `strlen(3)`, `memset(3)`, `free(3)`.
    package static func takeWiping(_ pointer: UnsafeMutablePointer<CChar>) -> String {
        let value = String(cString: pointer)
        memset(pointer, 0, strlen(pointer))
        Glibc.free(pointer)
        return value
    }

    /// `count` zeroed values of `type` in memory a C library will free (a PAM conversation's
    /// responses), or nil; `calloc(3)`.
    package static func allocateZeroed<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T>? {
        calloc(count, MemoryLayout<T>.stride)?.bindMemory(to: type, capacity: count)
    }

    /// A copy of `text` in memory a C library will free, or nil; `strdup(3)`.
    package static func duplicate(_ text: String) -> UnsafeMutablePointer<CChar>? {
        strdup(text)
    }

    /// Frees what a C library allocated and handed to the caller; `free(3)`.
    package static func free(_ pointer: UnsafeMutableRawPointer?) {
        Glibc.free(pointer)
    }

    /// Overwrites `count` bytes at `pointer` with zeros; `memset(3)`.
    package static func wipe(_ pointer: UnsafeMutableRawPointer, count: Int) {
        memset(pointer, 0, count)
    }

    /// NUL-terminated copies of `texts` for the duration of `body` only: `body` gets an array
    /// of pointers to them, in order, ended by a NULL (the shape of libpq's keyword, value and
    /// parameter arrays). The copies live in one buffer owned by this call; it is zeroed (the
    /// texts may hold a password) and released when `body` returns or throws, so no pointer
    /// may be kept past `body`. A text holding a NUL ends there, as a C string does.
    package static func withCStrings<T>(_ texts: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws -> T) rethrows -> T {
        var bytes = [CChar]()
        var offsets = [Int]()
        for text in texts {
            offsets.append(bytes.count)
            bytes.append(contentsOf: text.utf8.map { CChar(bitPattern: $0) })
            bytes.append(0)
        }
        return try bytes.withUnsafeMutableBufferPointer { buffer in
            let list = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: offsets.count + 1)
            list.initialize(repeating: nil, count: offsets.count + 1)
            defer {
                list.deallocate()
                if let base = buffer.baseAddress { wipe(base, count: buffer.count) }
            }
            for (index, offset) in offsets.enumerated() { list[index] = buffer.baseAddress.map { UnsafePointer($0 + offset) } }
            return try body(UnsafePointer(list))
        }
    }
}
