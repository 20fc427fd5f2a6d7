#include "support/support.hpp"

#include "util/cancellation.hpp"
#include "util/file_descriptor.hpp"
#include "util/file_system.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace cwb::test {
namespace fs = std::filesystem;

Result<std::uint16_t> free_loopback_port() {
  const util::FileDescriptor fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(ErrorKind::internal, std::string("cannot create a socket: ") + strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  // sockaddr_in and sockaddr are layout-compatible by the socket API's design.
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (bind(fd.get(), generic, sizeof address) != 0 || getsockname(fd.get(), generic, &length) != 0) {
    return fail(ErrorKind::internal, std::string("cannot bind a loopback port: ") + strerror(errno));
  }
  return ntohs(address.sin_port);
}

namespace {

struct StatLine {
  char state = '?';
  pid_t parent = -1;
  unsigned long long start_time = 0;
};

std::optional<StatLine> read_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  StatLine line;
  std::string skip;
  fields >> line.state >> line.parent;
  for (int field = 5; field < 22 && fields; ++field)
    fields >> skip; // fields 5..21
  fields >> line.start_time;
  if (!fields) return std::nullopt;
  return line;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return pids;
}

} // namespace

std::optional<ProcessIdentity> identify_process(pid_t pid) {
  const auto stat = read_stat(pid);
  if (!stat || stat->state == 'Z' || stat->state == 'X') return std::nullopt;
  return ProcessIdentity{pid, stat->start_time};
}

bool is_running(const ProcessIdentity& process) {
  const auto now = identify_process(process.pid);
  return now && *now == process;
}

std::vector<ProcessIdentity> process_tree(pid_t root) {
  std::vector<ProcessIdentity> tree;
  const auto first = identify_process(root);
  if (!first) return tree;
  tree.push_back(*first);
  std::vector<std::pair<pid_t, StatLine>> table;
  for (const pid_t pid : all_pids()) {
    if (auto stat = read_stat(pid); stat && stat->state != 'Z') table.emplace_back(pid, *stat);
  }
  // Breadth-first over the parent links; the table is small (a test machine).
  for (std::size_t next = 0; next < tree.size(); ++next) {
    for (const auto& [pid, stat] : table) {
      if (stat.parent == tree[next].pid) tree.push_back(ProcessIdentity{pid, stat.start_time});
    }
  }
  return tree;
}

std::vector<ProcessIdentity> processes_with_argument_containing(std::string_view text) {
  std::vector<ProcessIdentity> found;
  for (const pid_t pid : all_pids()) {
    if (pid == getpid()) continue;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    const std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(text) == std::string::npos) continue;
    if (const auto identity = identify_process(pid)) found.push_back(*identity);
  }
  return found;
}

std::vector<ProcessIdentity> still_running(const std::vector<ProcessIdentity>& candidates) {
  std::vector<ProcessIdentity> running;
  for (const auto& process : candidates) {
    if (is_running(process)) running.push_back(process);
  }
  return running;
}

util::Environment base_environment() {
  return {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, {"LC_ALL", "C.UTF-8"}};
}

std::string keep_log(const fs::path& log) {
  auto folder = util::TemporaryDirectory::create("", "cw-harness-log-");
  if (!folder) return "no log kept (" + folder.error().message + ")";
  const fs::path kept = folder->release() / log.filename();
  std::error_code error;
  if (!fs::copy_file(log, kept, fs::copy_options::overwrite_existing, error)) {
    return "no log kept (" + log.string() + ": " + error.message() + ")";
  }
  return "log kept at " + kept.string();
}

std::string last_log_line(const fs::path& log) {
  std::ifstream in(log);
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  if (last.size() > 200) last = last.substr(0, 200) + "...";
  return last;
}

bool poll_until(const std::function<bool()>& ready, std::chrono::milliseconds limit,
                const std::function<bool()>& gave_up) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (ready()) return true;
    if (gave_up() || util::cancellation_requested() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Error startup_error(std::string_view component, std::string_view where, std::chrono::milliseconds limit,
                    util::ChildProcess& process, const fs::path& log) {
  std::string message(component);
  if (util::cancellation_requested()) {
    message += " start-up was interrupted; " + keep_log(log);
    return Error{ErrorKind::interrupted, message};
  }
  if (!process.running()) {
    const auto status = process.wait_for(std::chrono::milliseconds(0));
    message += " exited during start-up (" + (status ? status->describe() : std::string("unknown status")) + ")";
    if (const auto line = last_log_line(log); !line.empty()) message += ": " + line;
    message += "; " + keep_log(log);
  } else {
    message += " did not answer on " + std::string(where) + " within " +
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) + " s; " + keep_log(log);
  }
  return Error{ErrorKind::unreachable, message};
}

bool https_answers(std::uint16_t port, const std::string& path, const fs::path& ca_file) {
  httplib::SSLClient client("127.0.0.1", port);
  client.set_ca_cert_path(ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(std::chrono::seconds(1));
  client.set_read_timeout(std::chrono::seconds(2));
  return static_cast<bool>(client.Get(path));
}

std::optional<int> http_status(std::uint16_t port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(1));
  client.set_read_timeout(std::chrono::seconds(2));
  const auto response = client.Get(path);
  if (!response) return std::nullopt;
  return response->status;
}

Result<> make_traversable(const fs::path& folder) {
  for (fs::path current = fs::absolute(folder); !current.empty(); current = current.parent_path()) {
    struct stat info {};
    if (stat(current.c_str(), &info) != 0) {
      return fail(ErrorKind::staging_io, "cannot stat " + current.string() + ": " + strerror(errno));
    }
    if ((info.st_mode & S_IXOTH) == 0 && chmod(current.c_str(), (info.st_mode & 07777) | S_IXOTH) != 0) {
      return fail(ErrorKind::staging_io, "cannot make " + current.string() + " traversable: " + strerror(errno));
    }
    if (current == current.root_path()) break;
  }
  return {};
}

void unmount_all_below(const std::vector<fs::path>& roots) {
  std::vector<std::string> targets;
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device;
    std::string target;
    fields >> device >> target;
    for (const auto& root : roots) {
      if (!root.empty() && (target == root.string() || target.starts_with(root.string() + "/"))) {
        targets.push_back(target);
      }
    }
  }
  // Deepest first, so that nothing below a mount keeps it busy.
  std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& target : targets)
    umount2(target.c_str(), MNT_DETACH);
}

} // namespace cwb::test
