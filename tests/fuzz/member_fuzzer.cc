// libFuzzer target for cluster member records (src/cluster/member.h): JSON values read from etcd,
// which any node (or anyone with access to etcd) may have written. A value decodes to a member that
// encodes back to an equal member, or is refused; nothing may crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/member.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tw::Result<tw::cluster::Member> m = tw::cluster::DecodeMember(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!m.ok()) return 0;
  tw::Result<tw::cluster::Member> again = tw::cluster::DecodeMember(tw::cluster::EncodeMember(*m));
  if (!again.ok() || !(*again == *m)) std::abort();
  return 0;
}
