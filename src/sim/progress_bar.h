// A one-line progress bar on stderr, drawn only when stderr is a terminal (so logs and pipes stay clean).
#pragma once

#include <cstdint>
#include <string>

namespace tw::sim {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  ~ProgressBar();  // ends the line if anything was drawn
  void Update(uint64_t done, uint64_t total);

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  int last_permille_ = -1;
};

}  // namespace tw::sim
