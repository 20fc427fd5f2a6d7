#include "integration/support/docker_api_proxy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace cwb::integration {
namespace {

// A request head larger than this is not HTTP as the Docker clients send it: relay the rest unframed.
constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr std::string_view stop_prefix = "/v1.41/containers/";

std::string errno_text() {
  return std::error_code(errno, std::generic_category()).message();
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto written = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

std::optional<sockaddr_un> unix_address(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const auto& text = path.native();
  if (text.size() >= sizeof(address.sun_path)) return std::nullopt;
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return address;
}

util::FileDescriptor connect_unix(const std::filesystem::path& path) {
  const auto address = unix_address(path);
  if (!address) return {};
  util::FileDescriptor socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) return {};
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0) return {};
  return socket;
}

std::string lowercase(std::string_view text) {
  std::string lower(text);
  for (auto& character : lower)
    character = static_cast<char>(std::tolower(static_cast<unsigned char>(character)));
  return lower;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// `/v1.41/containers/<name>/stop`, with or without a query.
bool is_stop_target(std::string_view target) {
  if (!target.starts_with(stop_prefix)) return false;
  target.remove_prefix(stop_prefix.size());
  const auto slash = target.find('/');
  if (slash == 0 || slash == std::string_view::npos) return false;
  const auto action = target.substr(slash);
  return action == "/stop" || action.starts_with("/stop?");
}

// What the head of one request (request line and headers, with the blank line) says about its framing.
struct RequestHead {
  bool stop_request = false;
  bool framed = true;   // false: a Content-Length that is not a number
  bool upgrade = false; // the connection turns into a raw stream after the answer
  bool chunked = false;
  std::size_t content_length = 0;
};

RequestHead parse_head(std::string_view head) {
  RequestHead parsed;
  const auto line_end = head.find("\r\n");
  const auto request_line = head.substr(0, line_end);
  const auto first_space = request_line.find(' ');
  const auto second_space = request_line.find(' ', first_space == std::string_view::npos ? 0 : first_space + 1);
  if (first_space != std::string_view::npos && second_space != std::string_view::npos) {
    parsed.stop_request = request_line.substr(0, first_space) == "POST" &&
                          is_stop_target(request_line.substr(first_space + 1, second_space - first_space - 1));
  }
  auto rest = head.substr(line_end + 2);
  while (!rest.empty()) {
    const auto end = rest.find("\r\n");
    const auto line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const auto name = lowercase(trim(line.substr(0, colon)));
    const auto value = lowercase(trim(line.substr(colon + 1)));
    if (name == "content-length") {
      const auto [end_of_number, error] =
          std::from_chars(value.data(), value.data() + value.size(), parsed.content_length);
      if (error != std::errc() || end_of_number != value.data() + value.size()) parsed.framed = false;
    } else if (name == "transfer-encoding") {
      parsed.chunked = value.find("chunked") != std::string::npos;
    } else if (name == "upgrade" || (name == "connection" && value.find("upgrade") != std::string::npos)) {
      parsed.upgrade = true;
    }
  }
  return parsed;
}

// Splits what the client sends into pieces to forward, each request's head a piece of its own, so that the
// relay can look at every request line before the engine gets it.
class RequestFramer {
public:
  struct Piece {
    std::string bytes;
    bool stop_request = false; // the piece is the head of a container stop request
  };

  void add(std::string_view bytes) { buffer_.append(bytes); }

  /// Returns the next piece, or nullopt when more bytes are needed.
  std::optional<Piece> next() {
    switch (state_) {
    case State::head: return next_head();
    case State::body:
    case State::chunk_data: {
      if (buffer_.empty()) return std::nullopt;
      const auto size = std::min(remaining_, buffer_.size());
      remaining_ -= size;
      if (remaining_ == 0) state_ = state_ == State::body ? State::head : State::chunk_size;
      return take(size);
    }
    case State::chunk_size: {
      const auto end = line_end();
      if (!end) return std::nullopt;
      const std::string_view line(buffer_.data(), *end);
      const auto digits = line.substr(0, line.find(';'));
      std::size_t size = 0;
      const auto [last, error] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (error != std::errc() || last == digits.data()) {
        state_ = State::raw;
      } else if (size == 0) {
        state_ = State::trailer;
      } else {
        remaining_ = size + 2; // the data and its CRLF
        state_ = State::chunk_data;
      }
      return take(*end + 2);
    }
    case State::trailer: {
      const auto end = line_end();
      if (!end) return std::nullopt;
      if (*end == 0) state_ = State::head;
      return take(*end + 2);
    }
    case State::raw: return buffer_.empty() ? std::nullopt : std::optional(take(buffer_.size()));
    }
    return std::nullopt;
  }

private:
  enum class State { head, body, chunk_size, chunk_data, trailer, raw };

  std::optional<Piece> next_head() {
    if (buffer_.starts_with("\r\n")) return take(2); // stray CRLFs between requests are allowed
    const auto end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (buffer_.size() <= max_head_bytes) return std::nullopt;
      state_ = State::raw;
      return take(buffer_.size());
    }
    auto piece = take(end + 4);
    const auto head = parse_head(piece.bytes);
    piece.stop_request = head.stop_request;
    if (head.upgrade || !head.framed) {
      state_ = State::raw;
    } else if (head.chunked) {
      state_ = State::chunk_size;
    } else if (head.content_length > 0) {
      remaining_ = head.content_length;
      state_ = State::body;
    }
    return piece;
  }

  // The length of the buffer's first line without its CRLF; an overlong line turns the stream raw.
  std::optional<std::size_t> line_end() {
    const auto end = buffer_.find("\r\n");
    if (end != std::string::npos) return end;
    if (buffer_.size() > max_head_bytes) state_ = State::raw;
    return std::nullopt;
  }

  Piece take(std::size_t size) {
    Piece piece;
    piece.bytes = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return piece;
  }

  State state_ = State::head;
  std::string buffer_;
  std::size_t remaining_ = 0;
};

std::string injected_stop_answer() {
  const std::string body = std::string(R"({"message":")") + DockerApiProxy::injected_message + R"("})";
  return "HTTP/1.1 500 Internal Server Error\r\n"
         "Api-Version: 1.41\r\n"
         "Content-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) +
         "\r\n"
         "Connection: close\r\n"
         "\r\n" +
         body;
}

} // namespace

DockerApiProxy::DockerApiProxy(std::filesystem::path listen_socket, std::filesystem::path engine_socket)
    : listen_socket_(std::move(listen_socket)), engine_socket_(std::move(engine_socket)) {}

Result<std::unique_ptr<DockerApiProxy>> DockerApiProxy::start(const std::filesystem::path& listen_socket,
                                                              const std::filesystem::path& engine_socket) {
  const auto address = unix_address(listen_socket);
  if (!address)
    return fail(ErrorKind::internal,
                "Docker API proxy: socket path too long for a unix socket: " + listen_socket.string());
  std::unique_ptr<DockerApiProxy> proxy(new DockerApiProxy(listen_socket, engine_socket));
  std::array<int, 2> wake{-1, -1};
  if (::pipe2(wake.data(), O_CLOEXEC) != 0) return fail(ErrorKind::internal, "Docker API proxy: pipe: " + errno_text());
  proxy->wake_read_.reset(wake[0]);
  proxy->wake_write_.reset(wake[1]);
  proxy->listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!proxy->listener_) return fail(ErrorKind::internal, "Docker API proxy: socket: " + errno_text());
  std::error_code ignored;
  std::filesystem::remove(listen_socket, ignored);
  if (::bind(proxy->listener_.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0)
    return fail(ErrorKind::internal, "Docker API proxy: bind " + listen_socket.string() + ": " + errno_text());
  if (::listen(proxy->listener_.get(), 64) != 0)
    return fail(ErrorKind::internal, "Docker API proxy: listen: " + errno_text());
  proxy->acceptor_ = std::thread(&DockerApiProxy::accept_loop, proxy.get());
  return proxy;
}

DockerApiProxy::~DockerApiProxy() {
  stopping_ = true;
  if (wake_write_) (void)::write(wake_write_.get(), "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  // The acceptor is gone: nobody adds to connections_ any more.
  for (auto& connection : connections_)
    connection.join();
  std::error_code ignored;
  std::filesystem::remove(listen_socket_, ignored);
}

std::string DockerApiProxy::docker_host() const {
  return "unix://" + listen_socket_.string();
}

void DockerApiProxy::accept_loop() {
  while (!stopping_) {
    std::array<pollfd, 2> fds{pollfd{wake_read_.get(), POLLIN, 0}, pollfd{listener_.get(), POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    if ((fds[1].revents & POLLIN) == 0) continue;
    util::FileDescriptor client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    const std::lock_guard lock(mutex_);
    connections_.emplace_back(&DockerApiProxy::relay, this, std::move(client));
  }
}

void DockerApiProxy::relay(util::FileDescriptor client) {
  // The client sees its connection closed when the engine cannot be reached, as with a dead engine.
  const auto engine = connect_unix(engine_socket_);
  if (!engine) return;
  RequestFramer framer;
  std::array<char, 64 * 1024> buffer{};
  bool client_open = true;
  while (!stopping_) {
    std::array<pollfd, 3> fds{pollfd{wake_read_.get(), POLLIN, 0}, pollfd{client_open ? client.get() : -1, POLLIN, 0},
                              pollfd{engine.get(), POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    if (fds[1].revents != 0) {
      const auto received = ::read(client.get(), buffer.data(), buffer.size());
      if (received <= 0) {
        // The client is done sending; the engine may still be answering.
        client_open = false;
        ::shutdown(engine.get(), SHUT_WR);
      } else {
        framer.add(std::string_view(buffer.data(), static_cast<std::size_t>(received)));
        while (auto piece = framer.next()) {
          if (piece->stop_request && stop_fault_armed_) {
            ++injected_stop_faults_;
            (void)write_all(client.get(), injected_stop_answer());
            // Closing with unread bytes would reset the connection and could lose the answer: let the
            // client close first (it does, having been told Connection: close), or give up after a second.
            ::shutdown(client.get(), SHUT_WR);
            std::array<pollfd, 2> drain{pollfd{wake_read_.get(), POLLIN, 0}, pollfd{client.get(), POLLIN, 0}};
            while (::poll(drain.data(), drain.size(), 1000) > 0 && drain[0].revents == 0 &&
                   ::read(client.get(), buffer.data(), buffer.size()) > 0) {
            }
            return;
          }
          if (!write_all(engine.get(), piece->bytes)) return;
        }
      }
    }
    if (fds[2].revents != 0) {
      const auto received = ::read(engine.get(), buffer.data(), buffer.size());
      // The engine closed: no answer can follow on this connection.
      if (received <= 0) return;
      if (!write_all(client.get(), std::string_view(buffer.data(), static_cast<std::size_t>(received)))) return;
    }
  }
}

} // namespace cwb::integration
