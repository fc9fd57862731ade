// Argument checks shared by the command files. Each returns false on a bad argument.
#pragma once

#include <napi.h>

#include "marshal.h"

namespace fleet {

inline bool GetHandle(const Napi::CallbackInfo& info, size_t index, uint32_t* out) {
  if (!info[index].IsNumber()) return false;
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (value < 0 || value > 0xffffffffu || value != static_cast<double>(static_cast<uint32_t>(value))) {
    return false;
  }
  *out = static_cast<uint32_t>(value);
  return true;
}

inline bool IsBytes(const Napi::CallbackInfo& info, size_t index) {
  return info[index].IsTypedArray() || info[index].IsBuffer();
}

// Unmarshals argument `index` into a heap copy shared with the worker thread.
template <typename T>
std::shared_ptr<T> ArgStruct(const Napi::CallbackInfo& info, size_t index,
                             TSS2_RC (*fn)(const uint8_t[], size_t, size_t*, T*)) {
  if (!IsBytes(info, index)) return nullptr;
  auto out = std::make_shared<T>();
  if (!Unmarshal(CopyBytes(info[index]), out.get(), fn)) return nullptr;
  return out;
}

// Copies argument `index` into a TPM2B (size + buffer) shared with the worker thread.
template <typename T>
std::shared_ptr<T> ArgTpm2b(const Napi::CallbackInfo& info, size_t index) {
  if (!IsBytes(info, index)) return nullptr;
  auto out = std::make_shared<T>();
  if (!FillTpm2b(CopyBytes(info[index]), out.get())) return nullptr;
  return out;
}

}  // namespace fleet
