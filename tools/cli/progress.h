#pragma once
// The progress of `tensorpar train` on stderr (stdout carries the report and --json), chosen by
// --progress:
//   redraw  one line rewritten in place ("\r...\033[K") after every step and at least twice a
//           second between steps, so that the elapsed time moves during a long step:
//           [######..................] train  step 12/50  loss 3.2101 (ref 3.2100)
//           8123 tokens/s  elapsed 0:12  remaining 0:38
//   lines   a line every 10% of the steps, and at least every 10 s while the run goes on
//   off     nothing
//   auto    (default) redraw when stderr is a terminal; otherwise lines, or off under --json
//           (a script reading the JSON wants no chatter on stderr)
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tensorpar::cli {

enum class ProgressMode { Off, Redraw, Lines };

// --progress's value against the terminal check (`stderr_is_terminal`: isatty(STDERR_FILENO));
// UsageError for a value other than auto, redraw, lines, off.
ProgressMode progress_mode(const std::string& flag, bool json, bool stderr_is_terminal);

struct ProgressOptions {
  ProgressMode mode = ProgressMode::Off;
  std::FILE* out = stderr;
  std::chrono::milliseconds redraw_every{500};   // redraw: between steps
  std::chrono::milliseconds line_every{10'000};  // lines: at the latest
  // Steps trained before this run (a --load resumed after them): the line numbers the run's
  // steps from first_step + 1, out of first_step + steps. Resumed after step 10 for 10 steps:
  // "step 13/20" after the run's third step, the bar and the time left at 3 of 10.
  std::int64_t first_step = 0;
};

// One run's progress (`label`: "train", "reference"). update() is called after each step from
// the training thread; a thread of its own redraws between steps.
class Progress {
 public:
  Progress(std::string label, int steps, std::int64_t tokens_per_step,
           const std::vector<double>* reference, ProgressOptions options);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(int step, double loss);  // step is 0-based, in this run (not counting first_step)
  // Ends the output (the redrawn line gets its newline); the run stopped, maybe early.
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  std::string line(Clock::time_point now) const;
  void print(Clock::time_point now);
  void tick();

  const std::string label_;
  const int steps_;
  const std::int64_t tokens_per_step_;
  const std::vector<double>* reference_;
  const ProgressOptions options_;
  const Clock::time_point start_;
  std::mutex mu_;
  std::condition_variable wake_;
  int done_ = 0;
  std::optional<double> loss_;
  Clock::time_point last_print_;
  bool drawn_ = false, finished_ = false;
  std::thread ticker_;
};

}  // namespace tensorpar::cli
