// A small purpose-built JSON reader: the trace is flat objects of numbers and arrays of numbers, and
// the project takes no JSON dependency for one format. Unknown values (strings, nested objects) are
// skipped, not rejected, so traces with extra fields still load.
#include "sim/trace.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace tw::sim {
namespace {

class LineParser {
 public:
  explicit LineParser(std::string_view s) : s_(s) {}

  void SkipSpace() { while (p_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[p_]))) ++p_; }
  bool Eat(char c) { SkipSpace(); if (p_ < s_.size() && s_[p_] == c) { ++p_; return true; } return false; }
  bool AtEnd() { SkipSpace(); return p_ >= s_.size(); }

  bool String(std::string_view* out) {
    if (!Eat('"')) return false;
    size_t start = p_;
    while (p_ < s_.size() && s_[p_] != '"') p_ += (s_[p_] == '\\') ? 2 : 1;
    if (p_ >= s_.size()) return false;
    *out = s_.substr(start, p_ - start);
    ++p_;
    return true;
  }

  bool Number(double* out) {
    SkipSpace();
    const char* b = s_.data() + p_;
    const char* e = s_.data() + s_.size();
    auto r = std::from_chars(b, e, *out);
    if (r.ec != std::errc()) return false;
    p_ += r.ptr - b;
    return true;
  }

  bool UnsignedInt(uint64_t* out) {
    SkipSpace();
    const char* b = s_.data() + p_;
    auto r = std::from_chars(b, s_.data() + s_.size(), *out);
    if (r.ec != std::errc()) return false;
    p_ += r.ptr - b;
    // Tolerate integral values written as floats, e.g. 12.0.
    if (p_ < s_.size() && s_[p_] == '.') {
      ++p_;
      while (p_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p_]))) ++p_;
    }
    return true;
  }

  // Skips one value of any kind.
  bool SkipValue() {
    SkipSpace();
    if (p_ >= s_.size()) return false;
    char c = s_[p_];
    if (c == '"') { std::string_view ignored; return String(&ignored); }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++p_;
      if (Eat(close)) return true;
      do {
        if (close == '}') {
          std::string_view k;
          if (!String(&k) || !Eat(':')) return false;
        }
        if (!SkipValue()) return false;
      } while (Eat(','));
      return Eat(close);
    }
    while (p_ < s_.size() && s_[p_] != ',' && s_[p_] != '}' && s_[p_] != ']') ++p_;
    return true;
  }

 private:
  std::string_view s_;
  size_t p_ = 0;
};

Status LineError(size_t line, std::string_view what) {
  return Status::InvalidArgument("trace line " + std::to_string(line) + ": " + std::string(what));
}

}  // namespace

Result<Trace> ParseMooncakeTrace(std::string_view text) {
  Trace trace;
  std::unordered_map<uint64_t, uint32_t> dense;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    LineParser p(line);
    if (p.AtEnd()) continue;
    if (!p.Eat('{')) return LineError(line_no, "expected a JSON object");
    TraceRequest req;
    std::vector<uint64_t> ids;
    bool have_ts = false, have_in = false, have_ids = false;
    if (!p.Eat('}')) {
      do {
        std::string_view key;
        if (!p.String(&key) || !p.Eat(':')) return LineError(line_no, "expected \"key\":");
        if (key == "timestamp") {
          double v;
          // Bounded before the conversion: a double beyond int64 converts to nothing defined.
          if (!p.Number(&v) || !(std::fabs(v) < 9.2e18)) return LineError(line_no, "timestamp is not a number of ms");
          req.timestamp_ms = static_cast<int64_t>(v);
          have_ts = true;
        } else if (key == "input_length" || key == "output_length") {
          uint64_t v;
          if (!p.UnsignedInt(&v) || v > UINT32_MAX) return LineError(line_no, std::string(key) + " is not a count");
          (key == "input_length" ? req.input_tokens : req.output_tokens) = static_cast<uint32_t>(v);
          have_in |= key == "input_length";
        } else if (key == "hash_ids") {
          if (!p.Eat('[')) return LineError(line_no, "hash_ids is not an array");
          if (!p.Eat(']')) {
            do {
              uint64_t v;
              if (!p.UnsignedInt(&v)) return LineError(line_no, "hash_ids holds a non-integer");
              ids.push_back(v);
            } while (p.Eat(','));
            if (!p.Eat(']')) return LineError(line_no, "unterminated hash_ids");
          }
          have_ids = true;
        } else if (!p.SkipValue()) {
          return LineError(line_no, "malformed value of " + std::string(key));
        }
      } while (p.Eat(','));
      if (!p.Eat('}')) return LineError(line_no, "expected '}'");
    }
    if (!have_ts || !have_in || !have_ids) {
      return LineError(line_no, "needs timestamp, input_length and hash_ids");
    }
    req.blocks.reserve(ids.size());
    uint32_t prev = UINT32_MAX;
    for (uint64_t id : ids) {
      auto [it, fresh] = dense.try_emplace(id, static_cast<uint32_t>(dense.size()));
      if (fresh) trace.parent.push_back(prev);
      req.blocks.push_back(it->second);
      prev = it->second;
    }
    trace.block_accesses += req.blocks.size();
    trace.requests.push_back(std::move(req));
  }
  std::stable_sort(trace.requests.begin(), trace.requests.end(),
                   [](const TraceRequest& a, const TraceRequest& b) { return a.timestamp_ms < b.timestamp_ms; });
  trace.unique_blocks = dense.size();
  return trace;
}

Result<Trace> ReadMooncakeTrace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open trace " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read trace " + path);
  auto r = ParseMooncakeTrace(buf.str());
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

}  // namespace tw::sim
