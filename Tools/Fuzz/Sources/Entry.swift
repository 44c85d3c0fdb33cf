import Foundation

#if FUZZING
/// libFuzzer's entry point; `FUZZ_TARGET` names the target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.run(target, Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

let target = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? "request"
#else
/// Without the fuzzer: `fuzz TARGET FILE-OR-FOLDER...` runs each file through the target once (the seed
/// corpus as a regression test; a crash found by `make fuzz` once fixed).
@main
struct Replay {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let target = arguments.first, FuzzTargets.names.contains(target) else {
            FileHandle.standardError.write(Data("usage: fuzz \(FuzzTargets.names.joined(separator: "|")) FILE-OR-FOLDER...\n".utf8))
            exit(64)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files =
                isDirectory.boolValue ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
            for file in files {
                FuzzTargets.run(target, Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                count += 1
            }
        }
        print("\(target): \(count) inputs replayed, no failure")
    }
}
#endif
