// The extension module tokenwarehouse._native. The public surface is the pure-Python package
// (tokenwarehouse/__init__.py), which wraps these objects; import that, not this.
#include <pybind11/pybind11.h>

#include "binding/store_binding.h"

PYBIND11_MODULE(_native, m) {
  m.doc() = "Token Warehouse native core (use the tokenwarehouse package)";
  m.attr("__version__") = "0.1.0";
  tw::py::BindStore(m);
  tw::py::BindGpu(m);
}
