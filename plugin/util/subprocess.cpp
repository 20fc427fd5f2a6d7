#include "util/subprocess.hpp"

#include "util/cancellation.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace cwb::util {
namespace {

using Clock = std::chrono::steady_clock;

ExitStatus status_from_wait(int raw) {
  ExitStatus status;
  if (WIFEXITED(raw)) status.code = WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) status.signal = WTERMSIG(raw);
  return status;
}

// Everything the child needs, prepared before fork(): after fork only async-signal-safe calls are made.
struct PreparedExec {
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string program;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

Result<PreparedExec> prepare(const ProcessOptions& options) {
  if (options.argv.empty()) return fail(ErrorKind::internal, "cannot start a process with an empty argv");
  PreparedExec prepared;
  const auto program = find_program(options.argv[0], options.env);
  if (!program) return fail(ErrorKind::internal, "program not found in PATH: " + options.argv[0]);
  prepared.program = program->string();
  prepared.argv_storage = options.argv;
  for (const auto& [key, value] : options.env)
    prepared.env_storage.push_back(key + "=" + value);
  for (auto& arg : prepared.argv_storage)
    prepared.argv.push_back(arg.data());
  prepared.argv.push_back(nullptr);
  for (auto& entry : prepared.env_storage)
    prepared.envp.push_back(entry.data());
  prepared.envp.push_back(nullptr);
  if (!options.run_as_user.empty()) {
    const passwd* user = getpwnam(options.run_as_user.c_str());
    if (user == nullptr) return fail(ErrorKind::internal, "unknown user: " + options.run_as_user);
    prepared.uid = user->pw_uid;
    prepared.gid = user->pw_gid;
  }
  return prepared;
}

// In the child: sets up fds, identity and exec. Never returns.
[[noreturn]] void exec_child(const PreparedExec& prepared, const ProcessOptions& options, int stdin_fd, int stdout_fd,
                             int stderr_fd, const char* cwd) {
  setpgid(0, 0);
  // Default dispositions: the parent ignores SIGPIPE, the child must not inherit that.
  signal(SIGPIPE, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (dup2(stdin_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) _exit(127);
  if (cwd != nullptr && chdir(cwd) != 0) _exit(127);
  if (prepared.gid) {
    if (setgroups(0, nullptr) != 0 || setgid(*prepared.gid) != 0) _exit(127);
  }
  if (prepared.uid && setuid(*prepared.uid) != 0) _exit(127);
  // After the identity change: changing credentials clears the parent-death signal.
  if (options.parent_death_signal != 0) {
    prctl(PR_SET_PDEATHSIG, options.parent_death_signal);
  }
  execve(prepared.program.c_str(), prepared.argv.data(), prepared.envp.data());
  _exit(127);
}

int open_or_devnull(const std::filesystem::path& path, int flags) {
  if (path.empty()) return open("/dev/null", (flags & O_WRONLY) ? O_WRONLY | O_CLOEXEC : O_RDONLY | O_CLOEXEC);
  return open(path.c_str(), flags | O_CLOEXEC, 0600);
}

class LineSplitter {
public:
  explicit LineSplitter(std::function<void(std::string_view)> callback) : callback_(std::move(callback)) {}
  void feed(std::string_view data) {
    buffer_.append(data);
    std::size_t start = 0;
    for (std::size_t newline; (newline = buffer_.find('\n', start)) != std::string::npos; start = newline + 1) {
      callback_(std::string_view(buffer_).substr(start, newline - start));
    }
    buffer_.erase(0, start);
  }
  void finish() {
    if (!buffer_.empty()) callback_(buffer_);
    buffer_.clear();
  }

private:
  std::function<void(std::string_view)> callback_;
  std::string buffer_;
};

void kill_group(pid_t pid, int signal) {
  if (kill(-pid, signal) != 0) kill(pid, signal);
}

} // namespace

Environment current_environment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return env;
}

std::optional<std::filesystem::path> find_program(const std::string& program, const Environment& env) {
  if (program.find('/') != std::string::npos) return std::filesystem::path(program);
  const auto path_entry = env.find("PATH");
  const std::string path = path_entry != env.end() ? path_entry->second : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::filesystem::path dir = path.substr(start, end - start).empty() ? "." : path.substr(start, end - start);
    const auto candidate = dir / program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

std::string ExitStatus::describe() const {
  if (timed_out) return "timed out";
  if (signal) return "killed by signal " + std::to_string(*signal) + " (" + strsignal(*signal) + ")";
  if (code) return "exit code " + std::to_string(*code);
  return "unknown exit status";
}

Result<ProcessResult> run_process(const ProcessOptions& options) {
  auto prepared = prepare(options);
  if (!prepared) return fail(prepared.error());

  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  const bool out_to_file = !options.stdout_file.empty();
  const bool err_to_file = !options.stderr_file.empty();
  int stdin_fd = open_or_devnull(options.stdin_file, O_RDONLY);
  if (stdin_fd < 0)
    return fail(ErrorKind::staging_io, "cannot open " + options.stdin_file.string() + ": " + strerror(errno));
  int out_file = out_to_file ? open_or_devnull(options.stdout_file, O_WRONLY | O_CREAT | O_APPEND) : -1;
  int err_file = err_to_file ? open_or_devnull(options.stderr_file, O_WRONLY | O_CREAT | O_APPEND) : -1;
  if ((!out_to_file && pipe2(out_pipe, O_CLOEXEC) != 0) || (!err_to_file && pipe2(err_pipe, O_CLOEXEC) != 0) ||
      (out_to_file && out_file < 0) || (err_to_file && err_file < 0)) {
    const std::string reason = strerror(errno);
    for (int fd : {stdin_fd, out_file, err_file, out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
    return fail(ErrorKind::internal, "cannot set up the streams of " + options.argv[0] + ": " + reason);
  }
  const std::string cwd = options.working_dir.string();

  const pid_t pid = fork();
  if (pid < 0) {
    const std::string reason = strerror(errno);
    for (int fd : {stdin_fd, out_file, err_file, out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
    return fail(ErrorKind::internal, "cannot fork for " + options.argv[0] + ": " + reason);
  }
  if (pid == 0) {
    exec_child(*prepared, options, stdin_fd, out_to_file ? out_file : out_pipe[1], err_to_file ? err_file : err_pipe[1],
               cwd.empty() ? nullptr : cwd.c_str());
  }
  setpgid(pid, pid); // also in the parent, so that kill(-pid) works at once
  close(stdin_fd);
  if (out_file >= 0) close(out_file);
  if (err_file >= 0) close(err_file);
  if (out_pipe[1] >= 0) close(out_pipe[1]);
  if (err_pipe[1] >= 0) close(err_pipe[1]);

  ProcessResult result;
  std::optional<LineSplitter> out_lines;
  std::optional<LineSplitter> err_lines;
  if (options.on_stdout_line) out_lines.emplace(options.on_stdout_line);
  if (options.on_stderr_line) err_lines.emplace(options.on_stderr_line);

  const auto deadline = Clock::now() + options.timeout;
  bool timed_out = false;
  int forwarded_signal = 0;
  int open_streams = (out_pipe[0] >= 0 ? 1 : 0) + (err_pipe[0] >= 0 ? 1 : 0);
  char buffer[65536];
  while (open_streams > 0) {
    pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {cancellation_fd(), POLLIN, 0}};
    int wait_ms = -1;
    if (options.timeout.count() > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      wait_ms = static_cast<int>(std::max<long long>(0, left));
    }
    if (forwarded_signal != 0) wait_ms = wait_ms < 0 ? 100 : std::min(wait_ms, 100);
    const int ready = poll(fds, 3, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (cancellation_requested() && forwarded_signal == 0) {
      forwarded_signal = signal_for_children();
      kill_group(pid, forwarded_signal);
    }
    if (options.timeout.count() > 0 && Clock::now() >= deadline && !timed_out) {
      timed_out = true;
      kill_group(pid, SIGKILL);
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t count = read(fds[i].fd, buffer, sizeof buffer);
      if (count > 0) {
        const std::string_view data(buffer, static_cast<std::size_t>(count));
        auto& lines = i == 0 ? out_lines : err_lines;
        if (lines) {
          lines->feed(data);
        } else {
          (i == 0 ? result.stdout_text : result.stderr_text).append(data);
        }
      } else if (count == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        (i == 0 ? out_pipe[0] : err_pipe[0]) = -1;
        --open_streams;
      }
    }
  }
  if (out_lines) out_lines->finish();
  if (err_lines) err_lines->finish();

  // Streams are closed (or were files); wait for the exit, still honouring timeout and cancellation.
  int raw = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &raw, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (cancellation_requested() && forwarded_signal == 0) {
      forwarded_signal = signal_for_children();
      kill_group(pid, forwarded_signal);
    }
    if (options.timeout.count() > 0 && Clock::now() >= deadline && !timed_out) {
      timed_out = true;
      kill_group(pid, SIGKILL);
    }
    pollfd cancel{cancellation_fd(), POLLIN, 0};
    poll(&cancel, 1, forwarded_signal != 0 ? 20 : 10);
  }
  result.status = status_from_wait(raw);
  result.status.timed_out = timed_out;
  if (forwarded_signal != 0) {
    return fail(ErrorKind::interrupted,
                "interrupted by signal " + std::to_string(cancellation_signal()) + " while running " + options.argv[0]);
  }
  return result;
}

Result<ChildProcess> ChildProcess::start(const ProcessOptions& options) {
  auto prepared = prepare(options);
  if (!prepared) return fail(prepared.error());
  // Duplicates (close-on-exec) of given descriptors, so that all three are closed alike below.
  const int stdin_fd = options.stdin_fd >= 0 ? fcntl(options.stdin_fd, F_DUPFD_CLOEXEC, 3)
                                             : open_or_devnull(options.stdin_file, O_RDONLY);
  const int out_fd = open_or_devnull(options.stdout_file, O_WRONLY | O_CREAT | O_APPEND);
  const int err_fd = options.inherit_stderr ? fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)
                                            : open_or_devnull(options.stderr_file, O_WRONLY | O_CREAT | O_APPEND);
  if (stdin_fd < 0 || out_fd < 0 || err_fd < 0) {
    const std::string reason = strerror(errno);
    for (int fd : {stdin_fd, out_fd, err_fd}) {
      if (fd >= 0) close(fd);
    }
    return fail(ErrorKind::staging_io, "cannot open the streams of " + options.argv[0] + ": " + reason);
  }
  const std::string cwd = options.working_dir.string();
  const pid_t pid = fork();
  if (pid < 0) {
    const std::string reason = strerror(errno);
    for (int fd : {stdin_fd, out_fd, err_fd})
      close(fd);
    return fail(ErrorKind::internal, "cannot fork for " + options.argv[0] + ": " + reason);
  }
  if (pid == 0) exec_child(*prepared, options, stdin_fd, out_fd, err_fd, cwd.empty() ? nullptr : cwd.c_str());
  setpgid(pid, pid);
  for (int fd : {stdin_fd, out_fd, err_fd})
    close(fd);
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(std::move(other.status_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !status_) stop(SIGTERM, std::chrono::seconds(5));
    pid_ = std::exchange(other.pid_, -1);
    status_ = std::move(other.status_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) stop(SIGTERM, std::chrono::seconds(5));
}

bool ChildProcess::running() {
  if (pid_ <= 0 || status_) return false;
  int raw = 0;
  const pid_t done = waitpid(pid_, &raw, WNOHANG);
  if (done == pid_) {
    status_ = status_from_wait(raw);
    return false;
  }
  return done == 0;
}

std::optional<ExitStatus> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

ExitStatus ChildProcess::stop(int signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return ExitStatus{};
  if (running()) {
    kill_group(pid_, signal);
    if (!wait_for(grace)) {
      kill_group(pid_, SIGKILL);
      wait_for(std::chrono::seconds(10));
    }
  }
  return status_.value_or(ExitStatus{});
}

pid_t ChildProcess::release() {
  return std::exchange(pid_, -1);
}

} // namespace cwb::util
