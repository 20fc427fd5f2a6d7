#pragma once
// ContainerRuntime over the Docker Engine API v1.41. In production the transport is a CurlTransport bound
// to the engine's unix socket (over_socket); tests pass a plain transport and a loopback base URL, because
// the test HTTP server (cpp-httplib 0.11) cannot listen on a unix socket.

#include "container/container_runtime.hpp"
#include "http/transport.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace cwb::container {

struct DockerEndpoint {
  /// Scheme and host the URLs are built on; with a unix socket the host only fills the Host header.
  std::string base_url = "http://localhost";
  std::string api_version = "v1.41";
  /// Shown in error messages ("Docker engine at /var/run/docker.sock").
  std::string description = "/var/run/docker.sock";
  /// Limit for calls other than stop/restart (which get their own timeout plus this).
  std::chrono::seconds request_timeout{30};
};

class DockerEngineRuntime final : public ContainerRuntime {
public:
  DockerEngineRuntime(std::unique_ptr<http::Transport> transport, DockerEndpoint endpoint = {});

  /// Returns a runtime talking to the engine at `socket_path` through a CurlTransport.
  static std::unique_ptr<DockerEngineRuntime> over_socket(const std::filesystem::path& socket_path);

  /// Lists with GET /containers/json?all=1&filters=..., then inspects each container for started_at (a
  /// container removed in between is left out).
  Result<std::vector<ContainerInfo>> list_containers(const LabelFilter& filter) override;
  Result<> pause(const std::string& id) override;
  Result<> unpause(const std::string& id) override;
  Result<> stop(const std::string& id, std::chrono::seconds timeout) override;
  Result<> start(const std::string& id) override;
  Result<> restart(const std::string& id, std::chrono::seconds timeout) override;
  Result<ContainerInfo> inspect(const std::string& id) override;
  Result<std::filesystem::path> volume_mountpoint(const std::string& name) override;
  /// GET /volumes?filters=...
  Result<std::vector<VolumeInfo>> list_volumes(const LabelFilter& filter) override;
  /// POST /volumes/create (the engine answers 201 with the existing volume when the name is taken).
  Result<VolumeInfo> create_volume(const std::string& name, const std::map<std::string, std::string>& labels) override;

private:
  Result<http::Response> call(const std::string& method, const std::string& path, std::chrono::seconds extra_time,
                              const std::string& what);
  Result<> post_action(const std::string& id, const std::string& action, const std::string& query,
                       std::chrono::seconds extra_time);

  std::unique_ptr<http::Transport> transport_;
  DockerEndpoint endpoint_;
};

/// Parses GET /containers/json (without started_at, which the list does not carry). Errors: container_runtime.
Result<std::vector<ContainerInfo>> parse_container_list(std::string_view body);
/// Parses GET /containers/{id}/json. Errors: container_runtime.
Result<ContainerInfo> parse_container_inspect(std::string_view body);
/// Parses GET /volumes ({"Volumes": [...] or null, "Warnings": ...}), sorted by name. Errors: container_runtime.
Result<std::vector<VolumeInfo>> parse_volume_list(std::string_view body);

} // namespace cwb::container
