// The Python-facing objects shared by the store and GPU bindings.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "tw/embedded_store.h"
#include "tw/namespace.h"
#include "tw/store.h"

namespace tw::py {

namespace pyb = pybind11;

// A registered namespace: what every data call names.
struct PyNamespace {
  Namespace nspace;
  NamespaceId id;
  BlockKey root;
};

// The store and what the GPU path attaches to it. Shared so that handles keep it alive.
struct PyStore {
  std::unique_ptr<Store> store;
  std::shared_ptr<void> gpu_registration;  // gpu_binding.cc's ArenaPin (the arena registered with CUDA), under its pin_mu
  EmbeddedStore* embedded() const { return dynamic_cast<EmbeddedStore*>(store.get()); }
};

// A 16-byte Python bytes object -> key; TypeError/ValueError otherwise.
BlockKey KeyFromPy(pyb::handle h);
std::vector<BlockKey> KeysFromPy(pyb::handle seq);
pyb::bytes KeyToPy(const BlockKey& k);

void BindStore(pyb::module_& m);
void BindGpu(pyb::module_& m);  // gpu_binding.cc, or a stub where CUDA was not found

}  // namespace tw::py
