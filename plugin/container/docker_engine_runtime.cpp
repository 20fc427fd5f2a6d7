#include "container/docker_engine_runtime.hpp"

#include "http/curl_transport.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace cwb::container {

namespace {

using nlohmann::json;

std::string strip_slash(std::string name) {
  if (!name.empty() && name.front() == '/') name.erase(0, 1);
  return name;
}

std::map<std::string, std::string> labels_of(const json& object) {
  std::map<std::string, std::string> labels;
  if (!object.is_object()) return labels; // Docker sends null for "no labels"
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) labels[key] = value.get<std::string>();
  }
  return labels;
}

std::vector<std::string> volume_names(const json& mounts) {
  std::vector<std::string> names;
  if (!mounts.is_array()) return names;
  for (const auto& mount : mounts) {
    if (mount.value("Type", std::string()) == "volume" && mount.contains("Name")) {
      names.push_back(mount.at("Name").get<std::string>());
    }
  }
  return names;
}

// The engine explains its errors as {"message": "..."}; fall back to the raw body.
std::string engine_message(const http::Response& response) {
  const auto body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return body["message"].get<std::string>();
  }
  return response.body.substr(0, 200);
}

Result<json> parse(std::string_view body, const char* what) {
  auto document = json::parse(body, nullptr, false);
  if (document.is_discarded())
    return fail(ErrorKind::container_runtime, std::string(what) + ": the engine's answer is not JSON");
  return document;
}

} // namespace

Result<std::vector<ContainerInfo>> parse_container_list(std::string_view body) {
  auto document = parse(body, "listing containers");
  if (!document) return fail(document.error());
  try {
    if (!document->is_array())
      return fail(ErrorKind::container_runtime, "listing containers: the answer is not a list");
    std::vector<ContainerInfo> containers;
    for (const auto& entry : *document) {
      ContainerInfo info;
      info.id = entry.at("Id").get<std::string>();
      const auto& names = entry.value("Names", json::array());
      if (!names.empty()) info.name = strip_slash(names.at(0).get<std::string>());
      info.labels = labels_of(entry.value("Labels", json()));
      info.state = entry.value("State", std::string());
      info.mounts = volume_names(entry.value("Mounts", json()));
      containers.push_back(std::move(info));
    }
    return containers;
  } catch (const json::exception& error) {
    return fail(ErrorKind::container_runtime, std::string("listing containers: ") + error.what());
  }
}

Result<ContainerInfo> parse_container_inspect(std::string_view body) {
  auto document = parse(body, "inspecting a container");
  if (!document) return fail(document.error());
  try {
    ContainerInfo info;
    info.id = document->at("Id").get<std::string>();
    info.name = strip_slash(document->value("Name", std::string()));
    if (const auto config = document->find("Config"); config != document->end() && config->is_object()) {
      info.labels = labels_of(config->value("Labels", json()));
    }
    const auto& state = document->at("State");
    info.state = state.value("Status", std::string());
    info.started_at = state.value("StartedAt", std::string());
    info.mounts = volume_names(document->value("Mounts", json()));
    return info;
  } catch (const json::exception& error) {
    return fail(ErrorKind::container_runtime, std::string("inspecting a container: ") + error.what());
  }
}

namespace {

Result<VolumeInfo> parse_volume(const json& entry) {
  VolumeInfo volume;
  volume.name = entry.at("Name").get<std::string>();
  volume.labels = labels_of(entry.value("Labels", json()));
  if (const auto mountpoint = entry.find("Mountpoint"); mountpoint != entry.end() && mountpoint->is_string())
    volume.mountpoint = mountpoint->get<std::string>();
  return volume;
}

} // namespace

Result<std::vector<VolumeInfo>> parse_volume_list(std::string_view body) {
  auto document = parse(body, "listing volumes");
  if (!document) return fail(document.error());
  try {
    if (!document->is_object())
      return fail(ErrorKind::container_runtime, "listing volumes: the answer is not an object");
    std::vector<VolumeInfo> volumes;
    // The engine sends "Volumes": null when there are none.
    const auto listed = document->value("Volumes", json());
    if (listed.is_null()) return volumes;
    if (!listed.is_array()) return fail(ErrorKind::container_runtime, "listing volumes: Volumes is not a list");
    for (const auto& entry : listed) {
      auto volume = parse_volume(entry);
      if (!volume) return fail(volume.error());
      volumes.push_back(std::move(*volume));
    }
    std::ranges::sort(volumes, {}, &VolumeInfo::name);
    return volumes;
  } catch (const json::exception& error) {
    return fail(ErrorKind::container_runtime, std::string("listing volumes: ") + error.what());
  }
}

DockerEngineRuntime::DockerEngineRuntime(std::unique_ptr<http::Transport> transport, DockerEndpoint endpoint)
    : transport_(std::move(transport)), endpoint_(std::move(endpoint)) {
  while (!endpoint_.base_url.empty() && endpoint_.base_url.back() == '/')
    endpoint_.base_url.pop_back();
}

std::unique_ptr<DockerEngineRuntime> DockerEngineRuntime::over_socket(const std::filesystem::path& socket_path) {
  http::CurlTransportOptions options;
  options.unix_socket_path = socket_path;
  DockerEndpoint endpoint;
  endpoint.description = socket_path.string();
  return std::make_unique<DockerEngineRuntime>(std::make_unique<http::CurlTransport>(std::move(options)),
                                               std::move(endpoint));
}

Result<http::Response> DockerEngineRuntime::call(const std::string& method, const std::string& path,
                                                 std::chrono::seconds extra_time, const std::string& what) {
  http::Request request;
  request.method = method;
  request.url = endpoint_.base_url + "/" + endpoint_.api_version + path;
  request.timeouts.connect = std::chrono::seconds(5);
  request.timeouts.total = endpoint_.request_timeout + extra_time;
  auto response = transport_->perform(request);
  if (!response) {
    if (response.error().kind == ErrorKind::interrupted) return fail(response.error());
    return fail(ErrorKind::container_runtime,
                what + ": Docker engine at " + endpoint_.description + ": " + response.error().message);
  }
  return response;
}

Result<> DockerEngineRuntime::post_action(const std::string& id, const std::string& action, const std::string& query,
                                          std::chrono::seconds extra_time) {
  const std::string what = action + " container " + id;
  auto response = call("POST", "/containers/" + http::url_encode(id) + "/" + action + query, extra_time, what);
  if (!response) return fail(response.error());
  // 304: already started / already stopped, which is what we wanted.
  if (response->success() || response->status == 304) return {};
  if (response->status == 404) return fail(ErrorKind::not_found, what + ": " + engine_message(*response));
  return fail(ErrorKind::container_runtime,
              what + ": HTTP " + std::to_string(response->status) + ": " + engine_message(*response));
}

Result<std::vector<ContainerInfo>> DockerEngineRuntime::list_containers(const LabelFilter& filter) {
  std::string path = "/containers/json?all=1";
  if (!filter.labels.empty()) path += "&filters=" + http::url_encode(json{{"label", filter.labels}}.dump());
  auto response = call("GET", path, std::chrono::seconds(0), "listing containers");
  if (!response) return fail(response.error());
  if (!response->success()) {
    return fail(ErrorKind::container_runtime,
                "listing containers: HTTP " + std::to_string(response->status) + ": " + engine_message(*response));
  }
  auto listed = parse_container_list(response->body);
  if (!listed) return fail(listed.error());
  std::vector<ContainerInfo> containers;
  for (auto& entry : *listed) {
    auto details = inspect(entry.id);
    if (!details) {
      if (details.error().kind == ErrorKind::not_found) continue; // removed meanwhile
      return fail(details.error());
    }
    entry.started_at = details->started_at;
    entry.state = details->state.empty() ? entry.state : details->state;
    containers.push_back(std::move(entry));
  }
  return containers;
}

Result<> DockerEngineRuntime::pause(const std::string& id) {
  return post_action(id, "pause", "", std::chrono::seconds(0));
}

Result<> DockerEngineRuntime::unpause(const std::string& id) {
  return post_action(id, "unpause", "", std::chrono::seconds(0));
}

Result<> DockerEngineRuntime::stop(const std::string& id, std::chrono::seconds timeout) {
  return post_action(id, "stop", "?t=" + std::to_string(timeout.count()), timeout);
}

Result<> DockerEngineRuntime::start(const std::string& id) {
  return post_action(id, "start", "", std::chrono::seconds(0));
}

Result<> DockerEngineRuntime::restart(const std::string& id, std::chrono::seconds timeout) {
  return post_action(id, "restart", "?t=" + std::to_string(timeout.count()), timeout);
}

Result<ContainerInfo> DockerEngineRuntime::inspect(const std::string& id) {
  const std::string what = "inspecting container " + id;
  auto response = call("GET", "/containers/" + http::url_encode(id) + "/json", std::chrono::seconds(0), what);
  if (!response) return fail(response.error());
  if (response->status == 404) return fail(ErrorKind::not_found, what + ": " + engine_message(*response));
  if (!response->success()) {
    return fail(ErrorKind::container_runtime,
                what + ": HTTP " + std::to_string(response->status) + ": " + engine_message(*response));
  }
  return parse_container_inspect(response->body);
}

Result<std::filesystem::path> DockerEngineRuntime::volume_mountpoint(const std::string& name) {
  const std::string what = "inspecting volume " + name;
  auto response = call("GET", "/volumes/" + http::url_encode(name), std::chrono::seconds(0), what);
  if (!response) return fail(response.error());
  if (response->status == 404) return fail(ErrorKind::not_found, what + ": " + engine_message(*response));
  if (!response->success()) {
    return fail(ErrorKind::container_runtime,
                what + ": HTTP " + std::to_string(response->status) + ": " + engine_message(*response));
  }
  auto document = parse(response->body, "inspecting a volume");
  if (!document) return fail(document.error());
  try {
    return std::filesystem::path(document->at("Mountpoint").get<std::string>());
  } catch (const json::exception& error) {
    return fail(ErrorKind::container_runtime, what + ": " + error.what());
  }
}

Result<std::vector<VolumeInfo>> DockerEngineRuntime::list_volumes(const LabelFilter& filter) {
  std::string path = "/volumes";
  if (!filter.labels.empty()) path += "?filters=" + http::url_encode(json{{"label", filter.labels}}.dump());
  auto response = call("GET", path, std::chrono::seconds(0), "listing volumes");
  if (!response) return fail(response.error());
  if (!response->success()) {
    return fail(ErrorKind::container_runtime,
                "listing volumes: HTTP " + std::to_string(response->status) + ": " + engine_message(*response));
  }
  return parse_volume_list(response->body);
}

Result<VolumeInfo> DockerEngineRuntime::create_volume(const std::string& name,
                                                      const std::map<std::string, std::string>& labels) {
  const std::string what = "creating volume " + name;
  http::Request request;
  request.method = "POST";
  request.url = endpoint_.base_url + "/" + endpoint_.api_version + "/volumes/create";
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = json{{"Name", name}, {"Driver", "local"}, {"Labels", labels}}.dump();
  request.timeouts.connect = std::chrono::seconds(5);
  request.timeouts.total = endpoint_.request_timeout;
  auto response = transport_->perform(request);
  if (!response) {
    if (response.error().kind == ErrorKind::interrupted) return fail(response.error());
    return fail(ErrorKind::container_runtime,
                what + ": Docker engine at " + endpoint_.description + ": " + response.error().message);
  }
  if (!response->success()) {
    return fail(ErrorKind::container_runtime,
                what + ": HTTP " + std::to_string(response->status) + ": " + engine_message(*response));
  }
  auto document = parse(response->body, "creating a volume");
  if (!document) return fail(document.error());
  try {
    return parse_volume(*document);
  } catch (const json::exception& error) {
    return fail(ErrorKind::container_runtime, what + ": " + error.what());
  }
}

} // namespace cwb::container
