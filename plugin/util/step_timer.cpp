#include "util/step_timer.hpp"

namespace cwb::util {
namespace {

double in_seconds(StepTimer::Clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

} // namespace

StepTimer::StepTimer(Now now, std::vector<std::string> steps) : now_(std::move(now)), created_(now_()) {
  for (auto& step : steps)
    took_.emplace_back(std::move(step), Clock::duration::zero());
}

std::size_t StepTimer::index_of(std::string_view step) {
  for (std::size_t i = 0; i < took_.size(); ++i)
    if (took_[i].first == step) return i;
  took_.emplace_back(std::string(step), Clock::duration::zero());
  return took_.size() - 1;
}

void StepTimer::start(std::string_view step) {
  stop();
  running_ = std::pair{index_of(step), now_()};
  recorded_ = true;
}

void StepTimer::stop() {
  if (!running_) return;
  took_[running_->first].second += now_() - running_->second;
  running_.reset();
}

double StepTimer::seconds(std::string_view step) const {
  for (std::size_t i = 0; i < took_.size(); ++i) {
    if (took_[i].first != step) continue;
    auto took = took_[i].second;
    if (running_ && running_->first == i) took += now_() - running_->second;
    return in_seconds(took);
  }
  return 0;
}

std::vector<std::pair<std::string, double>> StepTimer::steps() const {
  std::vector<std::pair<std::string, double>> result;
  for (const auto& [step, took] : took_)
    result.emplace_back(step, seconds(step));
  return result;
}

double StepTimer::total() const {
  return in_seconds(now_() - created_);
}

} // namespace cwb::util
