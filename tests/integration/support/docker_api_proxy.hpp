#pragma once
// A fault-injecting proxy for the Docker Engine API, for the restore's end-to-end failure tests: a real
// container always stops (the engine SIGKILLs it after the timeout), so "a container that will not stop"
// can only be made at the API boundary.
//
// The proxy listens on its own unix socket and relays every connection byte for byte to the engine's
// socket (one thread per connection, poll() on both ends). It reads the client's side just far enough to
// find where each request starts: the request line and headers up to the blank line, then the body by
// Content-Length or by its chunks (Transfer-Encoding: chunked), so that every request of a keep-alive
// connection is seen, not only the first. While the stop fault is armed, a request whose request line is
// `POST /v1.41/containers/<name>/stop[?...]` is not forwarded: the proxy answers it itself as the engine
// answers a failure (500, {"message": "..."}) with `Connection: close`, and closes the connection, so that
// nothing the engine might still send on it can follow the injected answer. After a connection upgrade
// (attach, exec) or a request it cannot frame, the proxy stops looking and relays the rest as it comes.
// Limits: HTTP/1.1 pipelining (a request sent before the previous answer arrived) is relayed, but an
// injected answer would then not wait for the engine's earlier ones; curl and Docker's Go client do not
// pipeline. Writes block: a peer that stops reading stalls its own connection only.

#include "core/error.hpp"
#include "util/file_descriptor.hpp"

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cwb::integration {

class DockerApiProxy {
public:
  /// Listens on `listen_socket` (created; an old file there is replaced) and relays to the engine's
  /// `engine_socket`. Errors: internal when the socket cannot be created, bound or listened on (a path longer
  /// than a unix socket allows included).
  static Result<std::unique_ptr<DockerApiProxy>> start(const std::filesystem::path& listen_socket,
                                                       const std::filesystem::path& engine_socket);

  DockerApiProxy(const DockerApiProxy&) = delete;
  DockerApiProxy& operator=(const DockerApiProxy&) = delete;
  /// Stops accepting, ends every relayed connection, joins the threads and removes the socket file.
  ~DockerApiProxy();

  /// Returns "unix://<listen socket>", for DOCKER_HOST.
  [[nodiscard]] std::string docker_host() const;
  /// From now on, container stop requests are answered with the injected failure.
  void arm_stop_fault() { stop_fault_armed_ = true; }
  void disarm_stop_fault() { stop_fault_armed_ = false; }
  /// Returns how many stop requests were answered with the injected failure.
  [[nodiscard]] int injected_stop_faults() const { return injected_stop_faults_.load(); }

  /// The injected answer's body: what a caller should find in its error message.
  static constexpr const char* injected_message = "cannot stop container: injected fault";

private:
  DockerApiProxy(std::filesystem::path listen_socket, std::filesystem::path engine_socket);
  void accept_loop();
  void relay(util::FileDescriptor client);

  std::filesystem::path listen_socket_;
  std::filesystem::path engine_socket_;
  util::FileDescriptor listener_;
  // Written once on shutdown and never read: it stays readable, so every poll() wakes up and returns.
  util::FileDescriptor wake_read_;
  util::FileDescriptor wake_write_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stop_fault_armed_{false};
  std::atomic<int> injected_stop_faults_{0};
  std::mutex mutex_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

} // namespace cwb::integration
