// Batch hashing for the ledger's append path: src/ledger's Hasher (hasher.ts), which
// src/attest/tpm/native.ts hands out as nativeHasher. For a run of encoded entries in one buffer,
// chains `prev`, computes each entry hash and RFC 9162 leaf hash, and folds the leaves into the
// Merkle frontier, in one call. One crypto.hash call per digest costs more in call overhead than
// the digest itself; here it is three SHA-256 per entry and no allocations (6-12x node:crypto's
// entries/s, 1.2-2.4x the ledger-append bench: docs/benchmarks.md).
//
// Uses the SHA-256 of the OpenSSL that Node itself exports (headers from Node's include dir). The
// low-level SHA256_Init/Update/Final are deprecated in OpenSSL 3 but are the direct path to the
// block function; the one-shot SHA256() goes through EVP_Q_digest and a fetch per call.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <napi.h>
#include <openssl/sha.h>

#include <cstdint>
#include <cstring>

#include "ledger_hash.h"

namespace fleet {

namespace {

constexpr size_t kHash = 32;
// A frontier of a tree of at most 2^64 leaves has at most 64 roots.
constexpr size_t kMaxRoots = 64;

void Sha256(const uint8_t* data, size_t length, uint8_t* out) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data, length);
  SHA256_Final(out, &ctx);
}

bool Bytes(const Napi::Value& value, uint8_t** data, size_t* length) {
  if (!value.IsTypedArray()) return false;
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (array.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
  *data = bytes.Data();
  *length = bytes.ByteLength();
  return true;
}

Napi::Value Fail(Napi::Env env, const char* message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

int PopCount(uint64_t value) { return __builtin_popcountll(value); }

// A count argument: a number that is a 32-bit unsigned integer.
bool Count32(const Napi::Value& value, uint32_t* count) {
  if (!value.IsNumber()) return false;
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= 0xffffffffu && number == static_cast<double>(static_cast<uint32_t>(number)))) return false;
  *count = static_cast<uint32_t>(number);
  return true;
}

}  // namespace

// hashEntries(buf, spans, count, head, size, roots, out)
//   buf    Uint8Array holding the entries; entry i is buf[spans[3i] + 1, spans[3i + 1]) and the
//          byte at spans[3i] is the leaf prefix 0x00; its `prev` field value (32 bytes) is at
//          spans[3i + 2] and is overwritten with the previous entry's hash.
//   spans  Uint32Array of 3 * count offsets into buf
//   head   Uint8Array(32): hash of the entry before the first (written as the first prev)
//   size   leaves in the tree before the batch
//   roots  Uint8Array(64 * 32): the frontier's popcount(size) roots, largest subtree first;
//          updated in place to the popcount(size + count) roots after the batch
//   out    Uint8Array(32 * count): receives the entry hashes
//   leaves optional Uint8Array(32 * count): receives the leaf hashes (for callers that cache them)
Napi::Value HashEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* buf;
  size_t buf_length;
  uint8_t* head;
  size_t head_length;
  uint8_t* roots;
  size_t roots_length;
  uint8_t* out;
  size_t out_length;
  uint8_t* leaves = nullptr;
  size_t leaves_length = 0;
  if ((info.Length() != 7 && info.Length() != 8) || (info.Length() == 8 && !info[7].IsUndefined() && !Bytes(info[7], &leaves, &leaves_length)) || !Bytes(info[0], &buf, &buf_length) || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || !info[2].IsNumber() ||
      !Bytes(info[3], &head, &head_length) || !info[4].IsNumber() || !Bytes(info[5], &roots, &roots_length) ||
      !Bytes(info[6], &out, &out_length)) {
    Napi::TypeError::New(env, "hashEntries(buf, spans, count, head, size, roots, out[, leaves])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint32Array spans = info[1].As<Napi::Uint32Array>();
  uint32_t count;
  if (!Count32(info[2], &count)) return Fail(env, "count must be a 32-bit unsigned integer");
  const double size_value = info[4].As<Napi::Number>().DoubleValue();
  // Sizes stay below 2^53 (LEDGER_LIMITS.maxFeedSize).
  if (!(size_value >= 0 && size_value <= 9007199254740991.0 && size_value == static_cast<double>(static_cast<uint64_t>(size_value)))) {
    return Fail(env, "size must be a safe non-negative integer");
  }
  uint64_t size = static_cast<uint64_t>(size_value);
  if (spans.ElementLength() < static_cast<size_t>(count) * 3) return Fail(env, "spans is shorter than 3 * count");
  if (head_length != kHash) return Fail(env, "head must be 32 bytes");
  if (roots_length < kMaxRoots * kHash) return Fail(env, "roots must have room for 64 hashes");
  if (out_length < static_cast<size_t>(count) * kHash) return Fail(env, "out is shorter than 32 * count");
  if (leaves != nullptr && leaves_length < static_cast<size_t>(count) * kHash) return Fail(env, "leaves is shorter than 32 * count");
  const uint32_t* span = spans.Data();
  // Every span first, so that a bad one leaves nothing half-written.
  for (uint32_t i = 0; i < count; i++) {
    const size_t start = span[3 * i];
    const size_t end = span[3 * i + 1];
    const size_t prev = span[3 * i + 2];
    if (!(start < end && end <= buf_length && prev > start && prev + kHash <= end)) return Fail(env, "a span is outside the buffer");
    if (buf[start] != 0) return Fail(env, "a leaf prefix byte is not 0x00");
  }

  uint8_t chain[kHash];
  std::memcpy(chain, head, kHash);
  int top = PopCount(size);
  uint8_t node[1 + 2 * kHash];
  node[0] = 1;
  for (uint32_t i = 0; i < count; i++) {
    const size_t start = span[3 * i];
    const size_t end = span[3 * i + 1];
    std::memcpy(buf + span[3 * i + 2], chain, kHash);
    Sha256(buf + start + 1, end - start - 1, out + i * kHash);
    std::memcpy(chain, out + i * kHash, kHash);
    // The leaf, then one node hash per trailing 1 bit of size (as MerkleFrontier.append).
    Sha256(buf + start, end - start, roots + top * kHash);
    if (leaves != nullptr) std::memcpy(leaves + i * kHash, roots + top * kHash, kHash);
    top++;
    for (uint64_t s = size; (s & 1) == 1; s >>= 1) {
      std::memcpy(node + 1, roots + (top - 2) * kHash, 2 * kHash);
      top -= 2;
      Sha256(node, sizeof node, roots + top * kHash);
      top++;
    }
    size++;
  }
  return env.Undefined();
}

// hashPairs(input, count, out)
//   input  Uint8Array of 2 * count hashes (32 bytes each): count pairs (left, right)
//   out    Uint8Array(32 * count): receives SHA-256(0x01 ‖ left ‖ right) of each pair, the RFC 9162
//          node hash (one level of a Merkle tree up from the one given)
Napi::Value HashPairs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* input;
  size_t input_length;
  uint8_t* out;
  size_t out_length;
  if (info.Length() != 3 || !Bytes(info[0], &input, &input_length) || !info[1].IsNumber() || !Bytes(info[2], &out, &out_length)) {
    Napi::TypeError::New(env, "hashPairs(input, count, out)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t count32;
  if (!Count32(info[1], &count32)) return Fail(env, "count must be a 32-bit unsigned integer");
  const size_t count = count32;
  if (input_length < count * 2 * kHash) return Fail(env, "input is shorter than 64 * count");
  if (out_length < count * kHash) return Fail(env, "out is shorter than 32 * count");
  uint8_t node[1 + 2 * kHash];
  node[0] = 1;
  for (size_t i = 0; i < count; i++) {
    std::memcpy(node + 1, input + i * 2 * kHash, 2 * kHash);
    Sha256(node, sizeof node, out + i * kHash);
  }
  return env.Undefined();
}

}  // namespace fleet
