// The body both minimal modules bind (pybind11_module.cpp, nanobind_module.cpp): the argument
// shape of rotary._rotary.apply, with the tensors read through DLPack's C exchange API as the
// real extension reads them. Only the binding layer differs between the two modules.
#pragma once

#include <Python.h>

#include <cstdint>
#include <vector>

struct Options {  // stands for RopeOptions: a bound class holding the frequencies
  std::vector<double> inv_freq = std::vector<double>(64, 1.0);
};

struct DLTensorHead {  // DLPack's DLTensor (the fields read here)
  void* data;
  int32_t device_type, device_id, ndim;
  uint8_t code, bits;
  uint16_t lanes;
  int64_t *shape, *strides;
  uint64_t byte_offset;
};

struct ExchangeApi {  // DLPack's DLPackExchangeAPI, major version 1
  uint32_t major, minor;
  void *prev, *allocator, *from_py, *to_py;
  int (*dltensor_from_py_object_no_sync)(void*, DLTensorHead*);
  void* current_work_stream;
};

// Reads one tensor as rotary does: its type's exchange API, then the DLTensor (-1: not readable).
inline int64_t read_tensor(PyObject* obj) {
  static PyObject* const attribute = PyUnicode_InternFromString("__dlpack_c_exchange_api__");
  PyObject* capsule = _PyType_Lookup(Py_TYPE(obj), attribute);
  if (!capsule) return -1;
  const auto* api = static_cast<const ExchangeApi*>(PyCapsule_GetPointer(capsule, "dlpack_exchange_api"));
  DLTensorHead t;
  if (!api || api->dltensor_from_py_object_no_sync(obj, &t) != 0) {
    PyErr_Clear();
    return -1;
  }
  return t.ndim ? t.shape[t.ndim - 1] : 0;
}

inline int64_t call_body(PyObject* xs, PyObject* outs, int64_t offset, const Options& options) {
  int64_t sum = offset + int64_t(options.inv_freq.size());
  for (PyObject* list : {xs, outs})
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); ++i) sum += read_tensor(PyList_GET_ITEM(list, i));
  return sum;
}
