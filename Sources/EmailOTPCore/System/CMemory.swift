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
}
