#include "core/program.h"

#include <dlfcn.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>

#include "core/errors.h"

namespace gan {

namespace {

// %L in the pattern: nothing for an ordinary message, "warning: " or "error: " otherwise, so
// that a user's eye and a test's grep find the level where it matters.
class LevelPrefix : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (msg.level <= spdlog::level::info) return;
    const auto name = spdlog::level::to_string_view(msg.level);
    dest.append(name.data(), name.data() + name.size());
    dest.push_back(':');
    dest.push_back(' ');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelPrefix>();
  }
};

}  // namespace

void init_logging(const std::string& program) {
  auto logger =
      std::make_shared<spdlog::logger>(program, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<LevelPrefix>('L').set_pattern("%n: %L%v");
  logger->set_formatter(std::move(formatter));
  spdlog::set_default_logger(logger);
}

int guarded_main(const std::string& program, const std::function<int()>& body,
                 const ProcessPlace& place) {
  const std::string where =
      place.size > 1 ? "[rank " + std::to_string(place.rank) + "] " : std::string();
  int code = kExitFailure;
  bool collective = false;
  try {
    return body();
  } catch (const Error& e) {
    code = e.code();
    collective = e.collective();
    // A collective error was raised identically everywhere: rank 0 speaks for all.
    if (!collective || place.rank == 0) spdlog::error("{}{}", where, e.what());
  } catch (const std::exception& e) {
    spdlog::error("{}{}", where, e.what());
  }
  spdlog::default_logger()->flush();
  if (!collective && place.size > 1 && place.abort) place.abort(code);
  return code;
}

void set_blas_threads(int threads) {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;  // the user decided
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    fn(threads);
}

}  // namespace gan
