// Building the environment and argument arrays of a child process before fork (after fork, in a
// multi-threaded parent, nothing may allocate). Thread-safe as long as nobody calls setenv meanwhile.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ringmaster {

// This process's environment as "KEY=VALUE" strings, with `overrides` replacing or adding entries.
std::vector<std::string> environment_with(const std::vector<std::pair<std::string, std::string>>& overrides);

// The null-terminated char* array execve wants, pointing into `strings` (which must outlive it).
std::vector<char*> c_string_array(std::vector<std::string>& strings);

}  // namespace ringmaster
