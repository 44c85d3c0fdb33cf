import Foundation
import Platform
import Synchronization
import Testing

/// What `Platform` replaces of the full Foundation behaves as Foundation did: the text helpers give
/// Foundation's answers, threads run with their names, and timed waits end.
@Suite("Platform")
struct PlatformTests {
    static let samples = [
        "", " ", "\t", "  a b  ", "\tkey=value\t", "x", " \n x \n ", "\r\nline\r\n", "ü ", " 日本 ", "a\u{00A0}",
        "\u{2003}em space\u{2003}",
    ]

    @Test(arguments: samples)
    func trimmingSpacesIsFoundationsWhitespaces(_ text: String) {
        let expected = text.trimmingCharacters(in: .whitespaces)
        // Foundation's `.whitespaces` also holds the Unicode space separators; the services trim only what
        // configuration and headers contain (spaces and tabs), so those two are compared.
        if text.unicodeScalars.allSatisfy({ $0.isASCII }) { #expect(text.trimmingSpaces() == expected) }
        #expect(Substring(text).trimmingSpaces() == text.trimmingSpaces())
    }

    @Test(arguments: samples)
    func trimmingWhitespaceIsFoundationsWhitespacesAndNewlines(_ text: String) {
        #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func percentEncodingKeepsTheAllowedBytesAndWritesTheRestInUppercaseHex() {
        let letters: (UInt8) -> Bool = { $0.isASCIIAlphanumeric }
        #expect("abc-XYZ_09".percentEncoded(allowing: letters) == "abc%2DXYZ%5F09")
        #expect("a b/ü".percentEncoded(allowing: letters) == "a%20b%2F%C3%BC")
        #expect("".percentEncoded(allowing: letters) == "")
        for byte in UInt8.min...UInt8.max {
            let expected = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            #expect(byte.isASCIIAlphanumeric == expected)
        }
    }

    /// Every byte as two lowercase digits, as `String(format: "%02x")` writes it, from contiguous storage and
    /// from a sequence without any.
    @Test func hexWritesEveryByteAsTwoLowercaseDigits() {
        let bytes = (0...255).map { UInt8($0) }
        let expected = bytes.map { String(format: "%02x", $0) }.joined()
        #expect(Hex.encode(bytes) == expected)
        #expect(Hex.encode(bytes[16..<32]) == String(expected.dropFirst(32).prefix(32)))
        #expect(Hex.encode((0...255).lazy.map { UInt8($0) }) == expected)
        #expect(Hex.encode([UInt8]()) == "")
        #expect((0...15).map { Hex.digit(UInt8($0)) } == Array("0123456789abcdef".utf8))
    }

    @Test func hexDigitsReadInEitherCaseAndNothingElse() {
        for byte in UInt8.min...UInt8.max {
            let expected = UInt8(String(UnicodeScalar(byte)), radix: 16)
            #expect(Hex.value(byte) == expected, "\(byte)")
        }
    }

    /// Every escape is decoded as `JSONSerialization` decodes it, and what it refuses is refused.
    @Test(arguments: [
        #"\""#, #"\\"#, #"\/"#, #"\b"#, #"\f"#, #"\n"#, #"\r"#, #"\t"#, #"\u0041"#, #"\u00e9"#, #"\u00E9"#, #"\u6771"#,
        #"\ud83d\ude00"#, #"\uD83D\uDE00"#, #"\u0000"#, #"\uffff"#,
        #"\x"#, #"\u12"#, #"\u12g4"#, #"\ud800"#, #"\ud800x"#, #"\ud800\u0041"#, #"\ude00"#, #"\ud83d\u"#, #"\"#,
    ])
    func jsonEscapesDecodeAsJSONSerializationDoes(_ escape: String) throws {
        let bytes = Array(escape.utf8)
        var position = 1
        var out: [UInt8] = []
        let decoded = JSONEscape.decode(bytes, at: &position, into: &out) && position == bytes.count
        let foundation = try? JSONSerialization.jsonObject(with: Data("[\"\(escape)\"]".utf8)) as? [String]
        #expect(decoded == (foundation != nil), "\(escape)")
        if decoded { #expect(String(decoding: out, as: UTF8.self) == foundation?.first, "\(escape)") }
    }

    @Test func aThreadRunsItsBodyUnderItsName() async throws {
        let name = Mutex<String?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            SystemThread.start(name: "platform-test-thread-long-name") {
                let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
                name.withLock { $0 = comm?.trimmingCharacters(in: .newlines) }
                done.resume()
            }
        }
        // The kernel keeps 15 bytes of a thread's name.
        #expect(name.withLock { $0 } == "platform-test-t")
    }

    @Test func aTimedWaitEndsWhenTheTimeRunsOutAndASignalEndsItEarlier() async throws {
        let lock = ConditionLock()
        lock.lock()
        let start = ContinuousClock.now
        #expect(lock.wait(timeout: .milliseconds(50)) == false)
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        lock.unlock()

        let ready = Mutex(false)
        let woken = Mutex<Bool?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            SystemThread.start(name: "waiter") {
                lock.lock()
                ready.withLock { $0 = true }
                var signalled = false
                // A wait may end spuriously: wait again until signalled or a minute has passed.
                let deadline = ContinuousClock.now + .seconds(60)
                while !signalled && ContinuousClock.now < deadline {
                    signalled = lock.wait(timeout: .seconds(60))
                }
                lock.unlock()
                woken.withLock { $0 = signalled }
                done.resume()
            }
            while !ready.withLock({ $0 }) { usleep(1000) }
            lock.lock()
            lock.signal()
            lock.unlock()
        }
        #expect(woken.withLock { $0 } == true)
    }
}
