#pragma once
// An in-memory ContainerRuntime for the unit tests of other modules (quiesce guards, backup and restore
// pipelines). Header-only; include it as "support/fake_container_runtime.hpp" (target cwb_test_support).
//
// - Containers and volumes are plain public members: set them up, then inspect them after the code ran.
// - Every call is recorded in `calls` as "<operation> <id>" ("pause c1", "stop c2 t=10", "list
//   io.cybus.connectware=core"), so tests can assert order (e.g. unpause in reverse order of pause).
// - fail_next("pause", "c1", error) / fail_always(...) make an operation fail; "*" as id matches any id.
// - States follow Docker: pause needs "running" (else container_runtime "is not running"), unpause needs
//   "paused", stop of a stopped container and start of a running one succeed (the engine's 304),
//   restart and start set a new started_at.

#include "container/container_runtime.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cwb::test {

class FakeContainerRuntime final : public container::ContainerRuntime {
public:
  std::vector<container::ContainerInfo> containers;
  std::map<std::string, std::filesystem::path> volumes;
  std::map<std::string, std::map<std::string, std::string>> volume_labels; // by volume name
  /// Where create_volume makes a new volume's folder (volume_root / name); empty: creating fails.
  std::filesystem::path volume_root;
  std::vector<std::string> calls;

  /// Adds a running container with the given labels and volume names; returns *this for chaining.
  FakeContainerRuntime& add(const std::string& id, std::map<std::string, std::string> labels,
                            std::vector<std::string> mounts = {}, const std::string& state = "running") {
    containers.push_back(
        container::ContainerInfo{id, id, std::move(labels), state, next_start_time(), std::move(mounts)});
    return *this;
  }

  /// Makes the next call of `operation` on `id` ("*": any) fail with `error`.
  void fail_next(const std::string& operation, const std::string& id, Error error) {
    failures_[operation + " " + id] = Failure{std::move(error), true};
  }
  /// Makes every call of `operation` on `id` ("*": any) fail with `error` until clear_failures().
  void fail_always(const std::string& operation, const std::string& id, Error error) {
    failures_[operation + " " + id] = Failure{std::move(error), false};
  }
  void clear_failures() { failures_.clear(); }

  /// Returns the state of container `id`, or "" when there is none.
  std::string state_of(const std::string& id) const {
    const auto it = std::ranges::find_if(containers, [&](const auto& c) { return c.id == id || c.name == id; });
    return it == containers.end() ? std::string() : it->state;
  }

  Result<std::vector<container::ContainerInfo>> list_containers(const container::LabelFilter& filter) override {
    std::string joined;
    for (const auto& label : filter.labels)
      joined += (joined.empty() ? "" : ",") + label;
    calls.push_back("list " + joined);
    CWB_TRY(injected("list", "*"));
    std::vector<container::ContainerInfo> result;
    for (const auto& c : containers) {
      if (container::matches(filter, c.labels)) result.push_back(c);
    }
    return result;
  }

  Result<> pause(const std::string& id) override {
    return transition("pause", id, "", [](container::ContainerInfo& c) -> Result<> {
      if (c.state != "running") return fail(ErrorKind::container_runtime, "container " + c.id + " is not running");
      c.state = "paused";
      return {};
    });
  }

  Result<> unpause(const std::string& id) override {
    return transition("unpause", id, "", [](container::ContainerInfo& c) -> Result<> {
      if (c.state != "paused") return fail(ErrorKind::container_runtime, "container " + c.id + " is not paused");
      c.state = "running";
      return {};
    });
  }

  Result<> stop(const std::string& id, std::chrono::seconds timeout) override {
    return transition("stop", id, " t=" + std::to_string(timeout.count()), [](container::ContainerInfo& c) -> Result<> {
      c.state = "exited";
      return {};
    });
  }

  Result<> start(const std::string& id) override {
    return transition("start", id, "", [this](container::ContainerInfo& c) -> Result<> {
      if (c.state == "paused") return fail(ErrorKind::container_runtime, "container " + c.id + " is paused");
      if (c.state != "running") c.started_at = next_start_time();
      c.state = "running";
      return {};
    });
  }

  Result<> restart(const std::string& id, std::chrono::seconds timeout) override {
    return transition("restart", id, " t=" + std::to_string(timeout.count()),
                      [this](container::ContainerInfo& c) -> Result<> {
                        c.state = "running";
                        c.started_at = next_start_time();
                        return {};
                      });
  }

  Result<container::ContainerInfo> inspect(const std::string& id) override {
    calls.push_back("inspect " + id);
    CWB_TRY(injected("inspect", id));
    auto* c = find(id);
    if (c == nullptr) return fail(ErrorKind::not_found, "no such container: " + id);
    return *c;
  }

  Result<std::filesystem::path> volume_mountpoint(const std::string& name) override {
    calls.push_back("volume " + name);
    CWB_TRY(injected("volume", name));
    const auto it = volumes.find(name);
    if (it == volumes.end()) return fail(ErrorKind::not_found, "no such volume: " + name);
    return it->second;
  }

  Result<std::vector<container::VolumeInfo>> list_volumes(const container::LabelFilter& filter) override {
    std::string joined;
    for (const auto& label : filter.labels)
      joined += (joined.empty() ? "" : ",") + label;
    calls.push_back("volumes " + joined);
    CWB_TRY(injected("volumes", "*"));
    std::vector<container::VolumeInfo> result;
    for (const auto& [name, path] : volumes) {
      const auto labels = volume_labels.contains(name) ? volume_labels.at(name) : std::map<std::string, std::string>{};
      if (container::matches(filter, labels)) result.push_back(container::VolumeInfo{name, labels, path});
    }
    return result; // std::map: sorted by name, as the interface promises
  }

  Result<container::VolumeInfo> create_volume(const std::string& name,
                                              const std::map<std::string, std::string>& labels) override {
    calls.push_back("create-volume " + name);
    CWB_TRY(injected("create-volume", name));
    if (const auto it = volumes.find(name); it != volumes.end())
      return container::VolumeInfo{name, volume_labels[name], it->second};
    if (volume_root.empty()) return fail(ErrorKind::container_runtime, "the fake cannot create volumes");
    std::error_code error;
    std::filesystem::create_directories(volume_root / name, error);
    if (error) return fail(ErrorKind::container_runtime, "creating volume " + name + ": " + error.message());
    volumes[name] = volume_root / name;
    volume_labels[name] = labels;
    return container::VolumeInfo{name, labels, volume_root / name};
  }

private:
  struct Failure {
    Error error;
    bool once = true;
  };

  container::ContainerInfo* find(const std::string& id) {
    const auto it = std::ranges::find_if(containers, [&](const auto& c) { return c.id == id || c.name == id; });
    return it == containers.end() ? nullptr : &*it;
  }

  Result<> injected(const std::string& operation, const std::string& id) {
    for (const auto& key : {operation + " " + id, operation + " *"}) {
      const auto it = failures_.find(key);
      if (it == failures_.end()) continue;
      auto error = it->second.error;
      if (it->second.once) failures_.erase(it);
      return fail(std::move(error));
    }
    return {};
  }

  template <typename Change>
  Result<> transition(const std::string& operation, const std::string& id, const std::string& detail, Change change) {
    calls.push_back(operation + " " + id + detail);
    CWB_TRY(injected(operation, id));
    auto* c = find(id);
    if (c == nullptr) return fail(ErrorKind::not_found, "no such container: " + id);
    return change(*c);
  }

  std::string next_start_time() {
    ++starts_;
    return "2024-01-01T00:00:" + std::string(starts_ < 10 ? "0" : "") + std::to_string(starts_ % 60) + "Z";
  }

  std::map<std::string, Failure> failures_;
  int starts_ = 0;
};

} // namespace cwb::test
