// Namespace::ObjectBytes lives with the codecs, which know their encoded sizes: tw_common (where the
// rest of Namespace is) sits below tw_codec and cannot call it.
#include "tw/codec.h"
#include "tw/namespace.h"

namespace tw {

uint64_t Namespace::ObjectBytes() const { return EncodedKvBound(codec, geometry); }

}  // namespace tw
