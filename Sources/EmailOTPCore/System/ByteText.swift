/// The one place where text is split and checked: by UTF-8 bytes, never by `Character`.
///
/// A Swift `Character` is a grapheme cluster: `"\r\n"` is one, and so is a space or a quote
/// followed by a combining mark (`" \u{34B}"`). A parser that compares Characters with `" "`,
/// `"\n"` or `"\""` misses such separators, and an attacker who controls the text decides what
/// the parser sees. Every separator of our formats is ASCII, and an ASCII byte never occurs
/// inside the UTF-8 encoding of another scalar, so splitting at the byte always cuts between
/// whole scalars. Pieces come back as `Substring`s of the input (valid UTF-8 by construction);
/// comparisons are byte for byte (`==` on Strings would apply Unicode canonical equivalence).
///
/// `@usableFromInline package`: only this package sees it, and cross-module optimisation
/// specialises its generics in the layers that call them, as it does for `public` ones and not
/// for plain `package` ones (docs/DESIGN.md, "Map").
@usableFromInline package enum ByteText {
    @usableFromInline package static let lineFeed: UInt8 = 0x0A
    @usableFromInline package static let carriageReturn: UInt8 = 0x0D
    @usableFromInline package static let space: UInt8 = 0x20
    @usableFromInline package static let tab: UInt8 = 0x09
    @usableFromInline package static let quote: UInt8 = 0x22

    /// The pieces of `text` between the bytes `separator`, at most `maxSplits` cuts, empty
    /// pieces kept. `separator` must be ASCII (every caller passes one of the constants above).
    @usableFromInline package static func split<S: StringProtocol>(_ text: S, at separator: UInt8, maxSplits: Int = Int.max) -> [Substring] {
        let whole = Substring(text)
        var pieces = [Substring]()
        var start = whole.utf8.startIndex
        var index = start
        while index < whole.utf8.endIndex {
            if whole.utf8[index] == separator && pieces.count < maxSplits {
                pieces.append(whole[start..<index])
                start = whole.utf8.index(after: index)
            }
            index = whole.utf8.index(after: index)
        }
        pieces.append(whole[start..<whole.utf8.endIndex])
        return pieces
    }

    /// The lines of `text`, cut at each LF byte. With `droppingCR`, one CR byte right before
    /// the LF (or at the very end) is not part of the line: files written on Windows.
    @usableFromInline package static func lines<S: StringProtocol>(_ text: S, droppingCR: Bool = false) -> [Substring] {
        let pieces = split(text, at: lineFeed)
        guard droppingCR else { return pieces }
        return pieces.map { droppingSuffix($0, bytes: [carriageReturn], max: 1) }
    }

    /// `text` without leading and trailing space and tab bytes.
    @usableFromInline package static func trimmingBlanks<S: StringProtocol>(_ text: S) -> Substring {
        let whole = Substring(text)
        var start = whole.utf8.startIndex
        var end = whole.utf8.endIndex
        while start < end, isBlank(whole.utf8[start]) { start = whole.utf8.index(after: start) }
        while start < end {
            let before = whole.utf8.index(before: end)
            guard isBlank(whole.utf8[before]) else { break }
            end = before
        }
        return whole[start..<end]
    }

    /// `text` without up to `max` trailing bytes from `bytes` (ASCII only).
    @usableFromInline package static func droppingSuffix<S: StringProtocol>(_ text: S, bytes: Set<UInt8>, max: Int = Int.max) -> Substring {
        let whole = Substring(text)
        var end = whole.utf8.endIndex
        var dropped = 0
        while dropped < max, end > whole.utf8.startIndex {
            let before = whole.utf8.index(before: end)
            guard whole.utf8[before] < 0x80, bytes.contains(whole.utf8[before]) else { break }
            end = before
            dropped += 1
        }
        return whole[whole.utf8.startIndex..<end]
    }

    /// The value between a pair of double-quote bytes that open and close `text`, else `text`.
    @usableFromInline package static func unquoted<S: StringProtocol>(_ text: S) -> Substring {
        let whole = Substring(text)
        let bytes = whole.utf8
        guard bytes.count >= 2, bytes.first == quote, bytes.last == quote else { return whole }
        return whole[bytes.index(after: bytes.startIndex)..<bytes.index(before: bytes.endIndex)]
    }

    /// The index of the first byte `byte` (ASCII) in `text`.
    @usableFromInline package static func firstIndex<S: StringProtocol>(of byte: UInt8, in text: S) -> String.Index? {
        text.utf8.firstIndex(of: byte)
    }

    /// True when `text` holds the byte `byte`.
    @usableFromInline package static func contains<S: StringProtocol>(_ text: S, byte: UInt8) -> Bool {
        text.utf8.contains(byte)
    }

    /// Byte-for-byte equality (no canonical equivalence: `"\u{212A}" == "K"` in Swift).
    @usableFromInline package static func same<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    /// True when `text` starts with the bytes of `prefix`.
    @usableFromInline package static func hasPrefix<A: StringProtocol, B: StringProtocol>(_ text: A, _ prefix: B) -> Bool {
        text.utf8.starts(with: prefix.utf8)
    }

    /// True when `text` ends with the bytes of `suffix`.
    @usableFromInline package static func hasSuffix<A: StringProtocol, B: StringProtocol>(_ text: A, _ suffix: B) -> Bool {
        text.utf8.count >= suffix.utf8.count && text.utf8.reversed().starts(with: suffix.utf8.reversed())
    }

    /// The blank-separated words of `text` (space and tab bytes; no empty words).
    @usableFromInline package static func words<S: StringProtocol>(_ text: S) -> [Substring] {
        split(text, at: space).flatMap { split($0, at: tab) }.filter { !$0.isEmpty }
    }

    /// `text` with ASCII letters in lower case and every other byte as it is (the C locale's
    /// `tolower`; Unicode case mapping would turn the Kelvin sign into "k").
    @usableFromInline package static func asciiLowercased<S: StringProtocol>(_ text: S) -> String {
        String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// True when the bytes of `part` stand somewhere in `text`.
    @usableFromInline package static func contains<A: StringProtocol, B: StringProtocol>(_ text: A, _ part: B) -> Bool {
        let bytes = Array(text.utf8), needle = Array(part.utf8)
        guard !needle.isEmpty else { return true }
        guard bytes.count >= needle.count else { return false }
        return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// `text` without its first `count` bytes; the caller knows they end on a scalar boundary
    /// (ASCII bytes, or a prefix of `text`).
    @usableFromInline package static func droppingASCIIPrefix<S: StringProtocol>(_ text: S, _ count: Int = 1) -> Substring {
        let whole = Substring(text)
        let start = whole.utf8.index(whole.utf8.startIndex, offsetBy: count, limitedBy: whole.utf8.endIndex) ?? whole.utf8.endIndex
        return whole[start...]
    }

    /// `text` without its last `count` bytes; the caller knows they are ASCII.
    @usableFromInline package static func droppingASCIISuffix<S: StringProtocol>(_ text: S, _ count: Int = 1) -> Substring {
        let whole = Substring(text)
        let end = whole.utf8.index(whole.utf8.endIndex, offsetBy: -count, limitedBy: whole.utf8.startIndex) ?? whole.utf8.startIndex
        return whole[..<end]
    }

    /// True when `text` is one of `choices`, byte for byte.
    @usableFromInline package static func isOne<S: StringProtocol>(_ text: S, of choices: [String]) -> Bool {
        choices.contains { same(text, $0) }
    }

    /// True for the scalars no value of ours may hold: C0 (CR and LF included), DEL and C1.
    @usableFromInline package static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)
    }

    /// True when `text` holds a control scalar (`isControl`).
    @usableFromInline package static func hasControl<S: StringProtocol>(_ text: S) -> Bool {
        text.unicodeScalars.contains(where: isControl)
    }

    /// True for every byte that starts a scalar in UTF-8 (not a continuation byte): a cut
    /// before such a byte keeps every scalar whole.
    @usableFromInline package static func startsScalar(_ byte: UInt8) -> Bool {
        byte & 0xC0 != 0x80
    }

    /// The text of `bytes` when they are valid UTF-8, else nil (never U+FFFD repairs).
    @usableFromInline package static func decode<C: Collection>(_ bytes: C) -> String? where C.Element == UInt8 {
        var out = String.UnicodeScalarView()
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): out.append(scalar)
            case .emptyInput: return String(out)
            case .error: return nil
            }
        }
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }
}
