// Batch verification of ECDSA P-256 signatures (SHA-256, IEEE P1363 r‖s) off the main thread:
// src/identity's P256BatchVerifier, which src/attest/tpm/native.ts hands out as
// nativeP256Verifier. A verifier object keeps its parsed public keys, and for keys that sign
// often a table of precomputed multiples, across calls; see p256_verify.cc for how and why.
#pragma once

#include <napi.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

namespace fleet {

struct P256Curve;
struct P256Key;

// new P256Verifier(maxKeys, maxTables, tableAfterUses, threads)
//   maxKeys         public keys kept parsed between calls (least recently used dropped first)
//   maxTables       keys that may hold a precomputed table at once (each ~150 KB)
//   tableAfterUses  verifications under one key after which its table is built (0: never)
//   threads         threads a call is split across at most (its own, not the libuv pool's)
// verify(keys, messages, ends, signatures, count) → Promise<Uint8Array(count)> of 1 (valid) / 0
//   keys        Uint8Array(65 * count): item i's SEC1 point at 65 * i
//   messages    Uint8Array: item i's message is messages[ends[i - 1], ends[i]) (from 0 for i = 0)
//   ends        Uint32Array(count), non-decreasing, the last at most messages.length
//   signatures  Uint8Array(64 * count): item i's r‖s at 64 * i
// The inputs are copied before the call returns. stats() → { keys, tables } held now.
class P256Verifier : public Napi::ObjectWrap<P256Verifier> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit P256Verifier(const Napi::CallbackInfo& info);

 private:
  Napi::Value Verify(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  std::shared_ptr<P256Key> Lookup(const uint8_t* point);

  std::shared_ptr<P256Curve> curve_;
  size_t max_keys_ = 0;
  uint64_t max_tables_ = 0;
  uint64_t table_after_uses_ = 0;
  uint32_t threads_ = 1;
  // Least recently used first; the map points into the list.
  std::list<std::shared_ptr<P256Key>> recent_;
  std::unordered_map<std::string, std::list<std::shared_ptr<P256Key>>::iterator> keys_;
};

}  // namespace fleet
