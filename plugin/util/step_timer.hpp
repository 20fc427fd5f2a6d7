#pragma once
// Wall time per named step of a pipeline, for logs, the run report and the `timings:` line the benchmark
// reads. The clock is passed in, so that tests with a fake clock get exact numbers.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cwb::util {

class StepTimer {
public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  /// `steps` are listed first and in this order by steps(), even when they never ran.
  explicit StepTimer(
      Now now = [] { return Clock::now(); }, std::vector<std::string> steps = {});

  /// Ends the step being timed (if any) and starts timing `step`; time adds up over repeated starts.
  void start(std::string_view step);
  /// Ends the step being timed; the time until the next start() counts nowhere (an operator's answer).
  void stop();

  /// Returns the seconds recorded for `step` so far (0 for a step never started); a running step counts up
  /// to now.
  [[nodiscard]] double seconds(std::string_view step) const;
  /// Returns every step with its seconds, in the order of the constructor's list, then of first start().
  [[nodiscard]] std::vector<std::pair<std::string, double>> steps() const;
  /// Returns the seconds since the timer was made.
  [[nodiscard]] double total() const;
  /// True once any step was started.
  [[nodiscard]] bool recorded() const { return recorded_; }

private:
  std::size_t index_of(std::string_view step);

  Now now_;
  Clock::time_point created_;
  std::vector<std::pair<std::string, Clock::duration>> took_;
  std::optional<std::pair<std::size_t, Clock::time_point>> running_;
  bool recorded_ = false;
};

} // namespace cwb::util
