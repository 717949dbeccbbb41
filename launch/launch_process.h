// Small process and text helpers for gan_launch: run a cluster tool and capture its output,
// replace this process with another, quote arguments for a shell script.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gan::launch {

struct ProcessResult {
  int exit_code = -1;  // 127 when the program could not be started
  std::string out;     // standard output
  std::string err;     // standard error
};

// Runs argv[0] (looked up in PATH) with the given arguments and waits for it.
ProcessResult run_capture(const std::vector<std::string>& argv);

// run_capture for each command, at most `parallel` at a time; results in the same order.
std::vector<ProcessResult> run_capture_all(const std::vector<std::vector<std::string>>& argvs,
                                           int parallel);

// Replaces this process with argv after setting env; returns only on failure (then throws).
[[noreturn]] void exec_replace(const std::vector<std::string>& argv,
                               const std::map<std::string, std::string>& env);

// Absolute path of an executable: as given when it contains '/', else searched in PATH.
std::optional<std::string> find_executable(const std::string& name);

// Quotes a word for POSIX sh / bash so that it survives as one argument.
std::string shell_quote(const std::string& word);
std::string shell_join(const std::vector<std::string>& words);

std::vector<std::string> split(const std::string& text, char sep);
std::string trim(const std::string& text);
std::string base_name(const std::string& path);
// Value of "Key=" in one `scontrol -o` line ("" when absent).
std::string scontrol_field(const std::string& line, const std::string& key);

// CPUs this process may run on (affinity mask), at least 1.
int available_cpus();

}  // namespace gan::launch
