import Foundation
import HTTP

/// A program started in the background (the real service executables in end-to-end tests), with its
/// output in a log file. Killed when the test forgets to stop it and the value is released.
///
/// Only this value reaps its process, and it signals the process only while it has not reaped it: once
/// reaped, the pid is free for the system to give to any new process (pids wrap at 32768 here), and a kill
/// sent to it then once took down another test's service, or another program.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let logPath: String
    /// The exit code once reaped (128+n when killed by signal n); reaping and signalling hold the lock.
    private let exitCode = NSLock()
    private var exitStatus: Int32?

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]) throws {
        logPath = temporaryDirectory() + "/process.log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in env { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, env)
        guard spawned == 0 else { throw PostgresCluster.ClusterError(message: "cannot start \(executable): error \(spawned)") }
        self.pid = pid
    }

    deinit {
        if poll() == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Sends `signal`, unless the process has already been reaped (its pid may be another process's now).
    public func signal(_ signal: Int32) {
        exitCode.withLock {
            if reapIfExited() == nil { kill(pid, signal) }
        }
    }

    /// Whether the process is still running (an exited one is reaped here, its code kept).
    public var isRunning: Bool { poll() == nil }

    /// The exit code if the process has exited, reaping it; nil while it runs.
    public func poll() -> Int32? {
        exitCode.withLock { reapIfExited() }
    }

    /// With the lock held.
    private func reapIfExited() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        exitStatus = Self.code(status)
        return exitStatus
    }

    private static func code(_ status: Int32) -> Int32 {
        (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Waits for the process to exit, up to `timeout`; returns its exit code (128+n when killed by signal n), or nil.
    public func wait(timeout: Duration = .seconds(15)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let code = poll() { return code }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return poll()
    }

    /// What the process wrote so far.
    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// The folder holding the test bundle, where SwiftPM also puts the package's executables.
public var productsDirectory: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
}

/// Runs blocking work (waiting for a child process, `initdb`, `pg_ctl`) on a thread of its own and awaits it.
/// On Swift's cooperative pool, which has one thread per core, a few such waits would stall every other
/// test's tasks, long enough for live servers to time out their idle connections.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

extension HTTPClient {
    /// A client for tests that talk to a live server beside the whole suite: 30 s to connect (a loaded CI run
    /// once took over 2 s, the default, to complete a loopback connect) and no circuit breaker.
    public static func patient() -> HTTPClient {
        HTTPClient(configuration: HTTPClientConfiguration(connectTimeout: .seconds(30), requestTimeout: .seconds(30), breaker: .off))
    }
}
