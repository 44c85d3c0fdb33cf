import Foundation

/// Runs a program to completion and returns its output; a non-zero exit is a `BackupError` with the output.
/// `user` runs it as another user through `runuser` (pgBackRest and pg_ctl as the cluster's owner when the
/// caller is root). posix_spawn and waitpid directly, output to a file: a server the program starts (pg_ctl
/// start) would inherit a pipe and keep it open.
@discardableResult
public func runProgram(
    _ executable: String,
    _ arguments: [String],
    user: String? = nil,
    environment: [String: String]? = nil
) throws -> String {
    var (executable, arguments) = (executable, arguments)
    if let user {
        arguments = ["-u", user, "--", executable] + arguments
        executable = "/usr/sbin/runuser"
    }
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("sagamart-run-\(UUID().uuidString).log").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in env { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawnp(&pid, executable, &actions, nil, argv, env)
    guard spawned == 0 else { throw BackupError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    guard (status & 0x7F) == 0 && (status >> 8) & 0xFF == 0 else {
        throw BackupError("\(([executable] + arguments).joined(separator: " ")) failed (status \(status)): \(text)")
    }
    return text
}

/// The user that owns a file, by name (nil when it is the caller, or unknown).
func owner(of path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0, info.st_uid != getuid(), let entry = getpwuid(info.st_uid) else { return nil }
    return String(cString: entry.pointee.pw_name)
}
