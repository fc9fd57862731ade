// Conversions between JavaScript byte buffers and tpm2-tss structures.
//
// The boundary is deliberately narrow: structures cross it in their TPM wire encoding, and the
// TypeScript side (src/attest/tpm2) owns their meaning. Here we only unmarshal with the tpm2-tss
// MU functions (which bound every size) and marshal results back.
#pragma once

#include <napi.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace fleet {

using Bytes = std::vector<uint8_t>;

// Frees ESYS-allocated output structures.
struct EsysFree {
  void operator()(void* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree>;

inline Bytes CopyBytes(const Napi::Value& value) {
  if (!value.IsTypedArray() && !value.IsBuffer()) return Bytes();
  auto array = value.As<Napi::Uint8Array>();
  return Bytes(array.Data(), array.Data() + array.ByteLength());
}

inline Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const uint8_t* data, size_t size) {
  return Napi::Buffer<uint8_t>::Copy(env, data, size);
}

// Unmarshals a whole buffer into `out`; trailing bytes are an error (strict decoding).
template <typename T>
bool Unmarshal(const Bytes& in, T* out,
               TSS2_RC (*fn)(const uint8_t[], size_t, size_t*, T*)) {
  std::memset(out, 0, sizeof(T));
  size_t offset = 0;
  if (fn(in.data(), in.size(), &offset, out) != TSS2_RC_SUCCESS) return false;
  return offset == in.size();
}

template <typename T>
Napi::Value Marshal(Napi::Env env, const T* in,
                    TSS2_RC (*fn)(const T*, uint8_t[], size_t, size_t*)) {
  std::vector<uint8_t> buffer(sizeof(T) + 64);
  size_t offset = 0;
  if (fn(in, buffer.data(), buffer.size(), &offset) != TSS2_RC_SUCCESS) {
    return env.Null();
  }
  return ToBuffer(env, buffer.data(), offset);
}

// Copies bytes into a TPM2B whose buffer is `capacity` long; false when it does not fit.
template <typename T>
bool FillTpm2b(const Bytes& in, T* out) {
  std::memset(out, 0, sizeof(T));
  if (in.size() > sizeof(out->buffer)) return false;
  out->size = static_cast<UINT16>(in.size());
  if (!in.empty()) std::memcpy(out->buffer, in.data(), in.size());
  return true;
}

}  // namespace fleet
