import Glibc

/// A failed system call: the operation, the path it was about, and `errno`.
package struct SystemError: Error, CustomStringConvertible, Equatable {
    package let operation: String
    package let path: String
    package let code: Int32

    package init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    package var description: String {
        path.isEmpty ? "\(operation): \(reason)" : "\(operation) \(path): \(reason)"
    }

    /// What `errno` says, without the operation; `strerror(3)`.
    package var reason: String { SystemError.reason(code) }

    /// The text of an `errno` value; `strerror(3)`.
    package static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// Retries a system call interrupted by a signal; turns -1 into a thrown `SystemError`.
@discardableResult
package func retryingEINTR<T: BinaryInteger>(_ operation: String, _ path: String, _ call: () -> T) throws -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        if errno == EINTR { continue }
        throw SystemError(operation, path)
    }
}
