#include "tools/cli/progress.h"

#include <algorithm>
#include <cmath>

#include "tools/cli/args.h"

namespace tensorpar::cli {

namespace {

// "0:07", "12:40", "2:03:15".
std::string clock_text(double seconds) {
  const auto total = static_cast<long long>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
  }
  return buf;
}

// "3.2101"; "nan" rather than the platform's "-nan".
std::string loss_text(double loss) {
  if (std::isnan(loss)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", loss);
  return buf;
}

}  // namespace

ProgressMode progress_mode(const std::string& flag, bool json, bool stderr_is_terminal) {
  if (flag == "redraw") return ProgressMode::Redraw;
  if (flag == "lines") return ProgressMode::Lines;
  if (flag == "off") return ProgressMode::Off;
  if (flag != "auto") {
    throw UsageError("--progress must be auto, redraw, lines or off, got '" + flag + "'");
  }
  if (stderr_is_terminal) return ProgressMode::Redraw;
  return json ? ProgressMode::Off : ProgressMode::Lines;
}

Progress::Progress(std::string label, int steps, std::int64_t tokens_per_step,
                   const std::vector<double>* reference, ProgressOptions options)
    : label_(std::move(label)),
      steps_(steps),
      tokens_per_step_(tokens_per_step),
      reference_(reference),
      options_(options),
      start_(Clock::now()),
      last_print_(start_) {
  if (options_.mode != ProgressMode::Off) ticker_ = std::thread([this] { tick(); });
}

Progress::~Progress() { finish(); }

void Progress::update(int step, double loss) {
  if (options_.mode == ProgressMode::Off) return;
  const std::lock_guard<std::mutex> lock(mu_);
  done_ = step + 1;
  loss_ = loss;
  const int every = std::max(1, steps_ / 10);
  const Clock::time_point now = Clock::now();
  if (options_.mode == ProgressMode::Redraw || done_ % every == 0 || done_ == steps_ ||
      now - last_print_ >= options_.line_every) {
    print(now);
  }
}

void Progress::finish() {
  {
    const std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    if (options_.mode == ProgressMode::Redraw && drawn_) {
      print(Clock::now());  // the final state, then leave the line
      std::fputc('\n', options_.out);
      std::fflush(options_.out);
    }
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

std::string Progress::line(Clock::time_point now) const {
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string out;
  if (options_.mode == ProgressMode::Redraw) {
    constexpr int kWidth = 24;
    const int filled = steps_ > 0 ? std::clamp(done_ * kWidth / steps_, 0, kWidth) : 0;
    out.assign(kWidth + 3, '.');
    out.front() = '[';
    std::fill_n(out.begin() + 1, filled, '#');
    out[kWidth + 1] = ']';
    out.back() = ' ';
  }
  char buf[256];
  const std::int64_t first = options_.first_step;
  std::snprintf(buf, sizeof buf, "%-10s step %*lld/%lld", label_.c_str(),
                static_cast<int>(std::to_string(first + steps_).size()),
                static_cast<long long>(first + done_), static_cast<long long>(first + steps_));
  out += buf;
  if (loss_) {
    out += "  loss " + loss_text(*loss_);
    if (reference_ != nullptr && done_ - 1 < static_cast<int>(reference_->size())) {
      out += " (ref " + loss_text((*reference_)[done_ - 1]) + ")";
    }
    std::snprintf(buf, sizeof buf, "  %.0f tokens/s",
                  elapsed > 0 ? static_cast<double>(done_ * tokens_per_step_) / elapsed : 0.0);
    out += buf;
  }
  out += "  elapsed " + clock_text(elapsed) + "  remaining ";
  out += done_ > 0 ? clock_text(elapsed / done_ * (steps_ - done_)) : "?";
  return out;
}

void Progress::print(Clock::time_point now) {
  const std::string text = line(now);
  if (options_.mode == ProgressMode::Redraw) {
    std::fprintf(options_.out, "\r%s\033[K", text.c_str());
    drawn_ = true;
  } else {
    std::fprintf(options_.out, "%s\n", text.c_str());
  }
  std::fflush(options_.out);
  last_print_ = now;
}

void Progress::tick() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto every =
      options_.mode == ProgressMode::Redraw ? options_.redraw_every : options_.line_every;
  while (!finished_) {
    wake_.wait_for(lock, every - (Clock::now() - last_print_), [this, every] {
      return finished_ || Clock::now() - last_print_ >= every;
    });
    if (finished_) break;
    print(Clock::now());
  }
}

}  // namespace tensorpar::cli
