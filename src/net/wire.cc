#include "net/wire.h"

namespace tw::net {

namespace {
constexpr size_t kMaxStatusMessage = 1024;
}

void MetaWriter::Stat(const Status& s) {
  U8(static_cast<uint8_t>(s.code()));
  std::string_view msg = s.message().substr(0, kMaxStatusMessage);
  U16(static_cast<uint16_t>(msg.size()));
  out_.append(msg);
}

std::string MetaReader::Bytes(size_t max_len) {
  uint32_t n = U32();
  if (n > max_len || !Take(n)) {
    ok_ = false;
    return {};
  }
  return std::string(last_);
}

Status MetaReader::Stat() {
  uint8_t code = U8();
  uint16_t n = U16();
  if (!ok_ || n > kMaxStatusMessage || !Take(n)) {
    ok_ = false;
    return Status::Corruption("malformed status");
  }
  if (code == 0) return Status::Ok();
  if (code > static_cast<uint8_t>(StatusCode::kFailedPrecondition)) return Status::Internal("peer sent an unknown status code: " + std::string(last_));
  return Status(static_cast<StatusCode>(code), last_);
}

uint32_t MetaReader::Count(uint32_t max_count, size_t min_item_bytes) {
  uint32_t n = U32();
  if (!ok_ || n > max_count || (min_item_bytes && n > p_.size() / min_item_bytes)) {
    ok_ = false;
    return 0;
  }
  return n;
}

Status MetaReader::Finish(std::string_view what) const {
  if (!ok_) return Status::Corruption("malformed " + std::string(what) + " metadata");
  if (!p_.empty()) return Status::Corruption("trailing bytes after " + std::string(what) + " metadata");
  return Status::Ok();
}

}  // namespace tw::net
