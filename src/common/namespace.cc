#include "tw/namespace.h"

#include "common/hash.h"
#include "common/little_endian.h"

namespace tw {

namespace {

constexpr char kMagic[4] = {'T', 'W', 'N', 'S'};
constexpr size_t kMaxField = 1024;

void PutString(std::string* out, const std::string& s) {
  uint8_t len[4];
  StoreLE32(len, static_cast<uint32_t>(s.size()));
  out->append(reinterpret_cast<const char*>(len), 4);
  out->append(s);
}

void PutU32(std::string* out, uint32_t v) {
  uint8_t b[4];
  StoreLE32(b, v);
  out->append(reinterpret_cast<const char*>(b), 4);
}

// A bounds-checked reader over an untrusted encoding.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : p_(bytes) {}
  bool U8(uint8_t* v) {
    if (p_.size() < 1) return false;
    *v = static_cast<uint8_t>(p_[0]);
    p_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (p_.size() < 4) return false;
    *v = LoadLE32(reinterpret_cast<const uint8_t*>(p_.data()));
    p_.remove_prefix(4);
    return true;
  }
  bool String(std::string* s) {
    uint32_t len;
    if (!U32(&len) || len > kMaxField || p_.size() < len) return false;
    s->assign(p_.data(), len);
    p_.remove_prefix(len);
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (p_.size() < n) return false;
    *out = p_.substr(0, n);
    p_.remove_prefix(n);
    return true;
  }
  bool done() const { return p_.empty(); }

 private:
  std::string_view p_;
};

}  // namespace

Status Namespace::Validate() const {
  if (model_id.empty()) return Status::InvalidArgument("namespace needs a model_id");
  for (const std::string* s : {&tenant, &model_id, &model_revision, &adapter_id, &cache_salt}) {
    if (s->size() > kMaxField) return Status::InvalidArgument("namespace field longer than 1 KiB");
  }
  if (key_hash != KeyHash::kSha256 && key_hash != KeyHash::kXxh3) {
    return Status::InvalidArgument("unknown key hash");
  }
  TW_RETURN_IF_ERROR(geometry.Validate());
  switch (codec) {
    case KvCodec::kNone:
      return Status::Ok();
    case KvCodec::kLossless:
      return Status::NotSupported("a namespace cannot store with the lossless codec: its objects vary in size");
    case KvCodec::kFp8:
    case KvCodec::kInt8:
    case KvCodec::kKivi2:
      if (KvDtypeBytes(geometry.dtype) < 2) {
        return Status::InvalidArgument("a lossy codec needs 16- or 32-bit KV, not 8-bit");
      }
      return Status::Ok();
  }
  return Status::InvalidArgument("unknown codec");
}

// Layout (v1): "TWNS" u8(version) str(tenant) str(model_id) str(model_revision) str(adapter_id)
// str(cache_salt) u32(layers) u32(kv_heads) u32(head_dim) u8(dtype) u32(block_tokens) u8(key_hash),
// where str = u32 LE length || bytes. Every field is present, in this order, so equal namespaces
// encode to equal bytes. v2 (a namespace with a codec): the same, version 2, then u8(codec).
std::string Namespace::Encode() const {
  std::string out(kMagic, 4);
  const bool coded = codec != KvCodec::kNone;
  out.push_back(static_cast<char>(coded ? 2 : 1));
  PutString(&out, tenant);
  PutString(&out, model_id);
  PutString(&out, model_revision);
  PutString(&out, adapter_id);
  PutString(&out, cache_salt);
  PutU32(&out, geometry.layers);
  PutU32(&out, geometry.kv_heads);
  PutU32(&out, geometry.head_dim);
  out.push_back(static_cast<char>(geometry.dtype));
  PutU32(&out, geometry.block_tokens);
  out.push_back(static_cast<char>(key_hash));
  if (coded) out.push_back(static_cast<char>(codec));
  return out;
}

Result<Namespace> Namespace::Decode(std::string_view bytes) {
  Reader r(bytes);
  std::string_view magic;
  uint8_t version = 0;
  if (!r.Bytes(4, &magic) || magic != std::string_view(kMagic, 4)) return Status::Corruption("not a namespace encoding");
  if (!r.U8(&version)) return Status::Corruption("truncated namespace encoding");
  if (version < 1 || version > kNamespaceEncodingVersion) {
    return Status::NotSupported("namespace encoding version " + std::to_string(version));
  }
  Namespace ns;
  uint8_t dtype = 0, hash = 0, codec = 0;
  if (!r.String(&ns.tenant) || !r.String(&ns.model_id) || !r.String(&ns.model_revision) || !r.String(&ns.adapter_id) ||
      !r.String(&ns.cache_salt) || !r.U32(&ns.geometry.layers) || !r.U32(&ns.geometry.kv_heads) ||
      !r.U32(&ns.geometry.head_dim) || !r.U8(&dtype) || !r.U32(&ns.geometry.block_tokens) || !r.U8(&hash) ||
      (version == 2 && !r.U8(&codec)) || !r.done()) {
    return Status::Corruption("truncated or malformed namespace encoding");
  }
  // Version 2 exists for coded namespaces only: a v2 "none" would be a second id for a v1 namespace.
  if (version == 2 && (codec == 0 || codec > static_cast<uint8_t>(KvCodec::kKivi2))) {
    return Status::Corruption("namespace encoding v2 with codec " + std::to_string(codec));
  }
  ns.codec = static_cast<KvCodec>(codec);
  ns.geometry.dtype = static_cast<KvDtype>(dtype);
  ns.key_hash = static_cast<KeyHash>(hash);
  Status valid = ns.Validate();
  if (!valid.ok()) return Status::Corruption("decoded namespace is invalid: " + std::string(valid.message()));
  return ns;
}

NamespaceId Namespace::Id() const {
  const std::string enc = Encode();
  Sha256Trunc128 h;
  h.Update(enc.data(), enc.size());
  NamespaceId id;
  h.Finish(id.bytes);
  return id;
}

BlockKey Namespace::Root() const { return RootKey(Id(), key_hash); }

std::vector<BlockKey> Namespace::BlockKeys(std::span<const uint32_t> tokens) const {
  return ComputeBlockKeys(Id(), tokens, geometry.block_tokens, key_hash);
}

}  // namespace tw
