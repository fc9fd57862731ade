// Batch verification of ECDSA P-256 / SHA-256 signatures for src/identity's P256BatchVerifier.
//
// Why not ECDSA_do_verify per item: a replica checks thousands of actor signatures per sync
// batch, nearly all by a handful of keys. Two things dominate OpenSSL's per-signature cost, and
// both can be shared across a batch with OpenSSL's public EC API (docs/benchmarks.md, p256-verify):
//   - s⁻¹ mod n (a modular inversion, ~9 µs): inverted together per block of items with
//     Montgomery's trick, one inversion and three multiplications per item;
//   - u2·Q for the public key Q (a variable-base multiplication, ~35 µs): for a key that has
//     signed tableAfterUses times, an EC_GROUP whose generator is Q gets a precomputed table
//     (EC_GROUP_precompute_mult, ~30 ms once), and u2·Q costs what u1·G does (~6 µs).
// The check itself is the standard one (SEC 1 v2 §4.1.4): 1 ≤ r, s < n; w = s⁻¹; u1 = e·w,
// u2 = r·w; R = u1·G + u2·Q; valid iff R is not the point at infinity and x(R) ≡ r (mod n), with
// x(R) compared in Jacobian coordinates (X = r·Z², or X = (r + n)·Z² when r + n < p) to spare the
// inversion of Z. Only public data is involved, so nothing here needs to be constant-time.
//
// Threads: a call copies its inputs, then starts up to `threads` threads of its own; each takes
// blocks of kBlock items from a shared cursor until none is left, so a thread that the scheduler
// starves does not hold up the batch, and the last to finish has the main thread settle the
// Promise (a thread-safe function, which also keeps the event loop alive meanwhile). Not the
// libuv thread pool: a replica's LevelDB reads and writes queue there, and would wait behind a
// batch's signatures (starting a thread costs tens of µs; a call's work is milliseconds).
// Keys live in the verifier object (main thread only), held by each call that uses them; a key's
// parsed point and table are made once, by whichever worker needs them first.
//
// Uses the OpenSSL that Node itself exports (headers from Node's include dir), as ledger_hash.cc.
// EC_POINT_get_Jprojective_coordinates_GFp is deprecated in OpenSSL 3 but still the one public
// way to the Jacobian coordinates.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "p256_verify.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

namespace fleet {

namespace {

constexpr size_t kPoint = 65;
constexpr size_t kSignature = 64;
constexpr size_t kScalar = 32;
// Items a worker takes at a time: one modular inversion serves them all.
constexpr uint32_t kBlock = 32;
// Hard caps of one call; src/identity/limits.ts sets the policy, below these.
constexpr uint32_t kMaxCount = 1u << 16;
constexpr size_t kMaxMessageBytes = size_t{64} << 20;
constexpr uint32_t kMaxThreads = 64;

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
struct PointFree {
  void operator()(EC_POINT* point) const { EC_POINT_free(point); }
};
using Point = std::unique_ptr<EC_POINT, PointFree>;

Napi::Value ThrowArgument(Napi::Env env, bool range, const char* message) {
  Napi::Error error =
      range ? Napi::Error(Napi::RangeError::New(env, message)) : Napi::Error(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, "ERR_NATIVE_ARGUMENT"));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool Bytes(const Napi::Value& value, napi_typedarray_type type, void** data, size_t* length) {
  if (!value.IsTypedArray()) return false;
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (array.TypedArrayType() != type) return false;
  *data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  *length = array.ByteLength();
  return true;
}

// A number argument that is an integer in [0, max].
bool Integer(const Napi::Value& value, double max, uint64_t* out) {
  if (!value.IsNumber()) return false;
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= max && number == static_cast<double>(static_cast<uint64_t>(number)))) return false;
  *out = static_cast<uint64_t>(number);
  return true;
}

}  // namespace

// The curve, shared read-only by every worker, and the count of tables that may still be made.
struct P256Curve {
  EC_GROUP* group = nullptr;
  BIGNUM* order = nullptr;
  BIGNUM* field = nullptr;
  std::atomic<int64_t> tables_free{0};

  ~P256Curve() {
    BN_free(field);
    BN_free(order);
    EC_GROUP_free(group);
  }
};

// One public key: its bytes, its point once parsed, and its table once made.
struct P256Key {
  std::string bytes;
  std::shared_ptr<P256Curve> curve;
  std::once_flag parse_once;
  EC_POINT* point = nullptr;  // null when the bytes are not a point of the curve
  std::atomic<uint64_t> uses{0};
  std::atomic<bool> building{false};
  std::atomic<EC_GROUP*> table{nullptr};

  ~P256Key() {
    EC_GROUP* made = table.load();
    if (made != nullptr) {
      EC_GROUP_free(made);
      curve->tables_free.fetch_add(1);
    }
    EC_POINT_free(point);
  }

  // The point, or null: an uncompressed SEC1 encoding (0x04 ‖ x ‖ y) of a point on the curve
  // with coordinates below p (EC_POINT_oct2point checks both).
  const EC_POINT* Parsed(BN_CTX* ctx) {
    std::call_once(parse_once, [&] {
      if (bytes.size() != kPoint || static_cast<uint8_t>(bytes[0]) != 0x04) return;
      EC_POINT* parsed = EC_POINT_new(curve->group);
      if (parsed != nullptr &&
          EC_POINT_oct2point(curve->group, parsed, reinterpret_cast<const uint8_t*>(bytes.data()), kPoint, ctx) == 1 &&
          EC_POINT_is_at_infinity(curve->group, parsed) == 0) {
        point = parsed;
      } else {
        EC_POINT_free(parsed);
      }
    });
    return point;
  }

  // Makes the table of this (parsed) key, when no other worker is making it and the verifier
  // still has room for one. Null when not made now.
  EC_GROUP* MakeTable(BN_CTX* ctx) {
    bool idle = false;
    if (!building.compare_exchange_strong(idle, true)) return nullptr;
    if (curve->tables_free.fetch_sub(1) <= 0) {
      curve->tables_free.fetch_add(1);
      building.store(false);  // tried again when a table is freed
      return nullptr;
    }
    EC_GROUP* made = EC_GROUP_dup(curve->group);
    if (made == nullptr ||
        EC_GROUP_set_generator(made, point, curve->order, EC_GROUP_get0_cofactor(curve->group)) != 1 ||
        EC_GROUP_precompute_mult(made, ctx) != 1) {
      // Not retried (`building` stays set): the key is verified without a table.
      EC_GROUP_free(made);
      curve->tables_free.fetch_add(1);
      ERR_clear_error();
      return nullptr;
    }
    table.store(made, std::memory_order_release);
    return made;
  }
};

namespace {

// One call: its copied inputs, the key of each item, the results, and the cursor the workers share.
struct Job {
  std::shared_ptr<P256Curve> curve;
  uint64_t table_after_uses = 0;
  uint32_t count = 0;
  std::vector<uint8_t> messages;
  std::vector<uint32_t> ends;
  std::vector<uint8_t> signatures;
  std::vector<std::shared_ptr<P256Key>> keys;
  std::vector<uint8_t> results;
  std::atomic<uint32_t> next{0};
  std::atomic<bool> failed{false};
  std::atomic<uint32_t> running{0};
  Napi::Promise::Deferred deferred;

  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

void Settle(Napi::Env env, Napi::Function, std::nullptr_t*, std::shared_ptr<Job>* data);
// How the last thread of a call hands it back to the main thread (and what keeps the event loop
// alive until it has).
using Settler = Napi::TypedThreadSafeFunction<std::nullptr_t, std::shared_ptr<Job>, Settle>;

// A thread's scratch numbers and points.
struct Scratch {
  explicit Scratch(const EC_GROUP* group) : ctx(BN_CTX_new()), r1(EC_POINT_new(group)), r2(EC_POINT_new(group)) {
    for (auto* set : {&r, &s, &w, &prefix})
      for (auto& bn : *set) bn.reset(BN_new());
    for (auto* bn : {&acc, &inverse, &e, &u1, &u2, &x, &z, &t}) bn->reset(BN_new());
  }

  bool Ok() const {
    if (ctx == nullptr || r1 == nullptr || r2 == nullptr) return false;
    for (const auto* set : {&r, &s, &w, &prefix})
      for (const auto& bn : *set)
        if (bn == nullptr) return false;
    for (const auto* bn : {&acc, &inverse, &e, &u1, &u2, &x, &z, &t})
      if (*bn == nullptr) return false;
    return true;
  }

  std::unique_ptr<BN_CTX, BnCtxFree> ctx;
  Point r1, r2;
  Bn r[kBlock], s[kBlock], w[kBlock], prefix[kBlock];
  Bn acc, inverse, e, u1, u2, x, z, t;
};

// x(R) ≡ r (mod n), for R = (X : Y : Z) in Jacobian coordinates (x = X / Z²). Since n < p < 2n,
// x mod n == r means x == r, or x == r + n when that is below p.
bool XMatches(const EC_GROUP* group, const EC_POINT* point, const BIGNUM* r, const P256Curve& curve,
              Scratch& scratch, bool* ok) {
  BN_CTX* ctx = scratch.ctx.get();
  BIGNUM* x = scratch.x.get();
  BIGNUM* z = scratch.z.get();
  BIGNUM* t = scratch.t.get();
  if (EC_POINT_get_Jprojective_coordinates_GFp(group, point, x, nullptr, z, ctx) != 1 ||
      BN_nnmod(x, x, curve.field, ctx) != 1 || BN_mod_sqr(z, z, curve.field, ctx) != 1 ||
      BN_mod_mul(t, r, z, curve.field, ctx) != 1) {
    *ok = false;
    return false;
  }
  if (BN_cmp(t, x) == 0) return true;
  if (BN_add(t, r, curve.order) != 1) {
    *ok = false;
    return false;
  }
  if (BN_cmp(t, curve.field) >= 0) return false;
  if (BN_mod_mul(t, t, z, curve.field, ctx) != 1) {
    *ok = false;
    return false;
  }
  return BN_cmp(t, x) == 0;
}

// Items [first, last) of the job (at most kBlock). False only when OpenSSL fails (no memory).
bool VerifyBlock(Job& job, uint32_t first, uint32_t last, Scratch& scratch) {
  const P256Curve& curve = *job.curve;
  const BIGNUM* n = curve.order;
  BN_CTX* ctx = scratch.ctx.get();
  const uint32_t size = last - first;
  bool live[kBlock];

  // Signatures within range, keys that are points; the rest are invalid as they are.
  for (uint32_t j = 0; j < size; j++) {
    const uint32_t i = first + j;
    live[j] = false;
    job.results[i] = 0;
    const uint8_t* signature = job.signatures.data() + kSignature * i;
    BIGNUM* r = scratch.r[j].get();
    BIGNUM* s = scratch.s[j].get();
    if (BN_bin2bn(signature, kScalar, r) == nullptr || BN_bin2bn(signature + kScalar, kScalar, s) == nullptr)
      return false;
    if (BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, n) >= 0 || BN_cmp(s, n) >= 0) continue;
    if (job.keys[i]->Parsed(ctx) == nullptr) continue;
    live[j] = true;
  }

  // w = s⁻¹ for every live item at once: prefix[j] is the product of the live s before j.
  bool any = false;
  if (BN_one(scratch.acc.get()) != 1) return false;
  for (uint32_t j = 0; j < size; j++) {
    if (!live[j]) continue;
    any = true;
    if (BN_copy(scratch.prefix[j].get(), scratch.acc.get()) == nullptr ||
        BN_mod_mul(scratch.acc.get(), scratch.acc.get(), scratch.s[j].get(), n, ctx) != 1)
      return false;
  }
  if (!any) return true;
  // n is prime and every s is in [1, n - 1], so the product is invertible.
  if (BN_mod_inverse(scratch.inverse.get(), scratch.acc.get(), n, ctx) == nullptr) return false;
  for (uint32_t j = size; j-- > 0;) {
    if (!live[j]) continue;
    if (BN_mod_mul(scratch.w[j].get(), scratch.inverse.get(), scratch.prefix[j].get(), n, ctx) != 1 ||
        BN_mod_mul(scratch.inverse.get(), scratch.inverse.get(), scratch.s[j].get(), n, ctx) != 1)
      return false;
  }

  for (uint32_t j = 0; j < size; j++) {
    if (!live[j]) continue;
    const uint32_t i = first + j;
    const uint32_t start = i == 0 ? 0 : job.ends[i - 1];
    uint8_t digest[SHA256_DIGEST_LENGTH];
    // The low-level calls: the one-shot SHA256() fetches an EVP digest per call (ledger_hash.cc).
    SHA256_CTX sha;
    SHA256_Init(&sha);
    SHA256_Update(&sha, job.messages.data() + start, job.ends[i] - start);
    SHA256_Final(digest, &sha);
    // The digest is as long as n, so e is all of it (no truncation).
    if (BN_bin2bn(digest, sizeof digest, scratch.e.get()) == nullptr ||
        BN_mod_mul(scratch.u1.get(), scratch.e.get(), scratch.w[j].get(), n, ctx) != 1 ||
        BN_mod_mul(scratch.u2.get(), scratch.r[j].get(), scratch.w[j].get(), n, ctx) != 1)
      return false;
    P256Key& key = *job.keys[i];
    EC_GROUP* table = key.table.load(std::memory_order_acquire);
    const uint64_t uses = key.uses.fetch_add(1, std::memory_order_relaxed) + 1;
    if (table == nullptr && job.table_after_uses != 0 && uses >= job.table_after_uses) table = key.MakeTable(ctx);
    EC_POINT* sum = scratch.r1.get();
    if (table != nullptr) {
      if (EC_POINT_mul(curve.group, sum, scratch.u1.get(), nullptr, nullptr, ctx) != 1 ||
          EC_POINT_mul(table, scratch.r2.get(), scratch.u2.get(), nullptr, nullptr, ctx) != 1 ||
          EC_POINT_add(curve.group, sum, sum, scratch.r2.get(), ctx) != 1)
        return false;
    } else if (EC_POINT_mul(curve.group, sum, scratch.u1.get(), key.point, scratch.u2.get(), ctx) != 1) {
      return false;
    }
    if (EC_POINT_is_at_infinity(curve.group, sum) == 1) continue;
    bool ok = true;
    const bool matches = XMatches(curve.group, sum, scratch.r[j].get(), curve, scratch, &ok);
    if (!ok) return false;
    job.results[i] = matches ? 1 : 0;
  }
  return true;
}

// Runs on the main thread once every thread of the call is done: settles the call's Promise.
void Settle(Napi::Env env, Napi::Function, std::nullptr_t*, std::shared_ptr<Job>* data) {
  std::unique_ptr<std::shared_ptr<Job>> owned(data);
  if (env == nullptr) return;  // the environment is being torn down
  Job& job = **owned;
  Napi::HandleScope scope(env);
  if (job.failed.load()) {
    Napi::Error error = Napi::Error::New(env, "P-256 batch verification failed in OpenSSL (out of memory?)");
    error.Set("code", Napi::String::New(env, "ERR_P256_VERIFY_FAILED"));
    job.deferred.Reject(error.Value());
    return;
  }
  Napi::Uint8Array results = Napi::Uint8Array::New(env, job.count);
  std::memcpy(results.Data(), job.results.data(), job.count);
  job.deferred.Resolve(results);
}

// Hands the call to Settle on the main thread; called by whichever brings `running` to 0.
void Finish(const std::shared_ptr<Job>& job, Settler& settler) {
  // Unbounded queue: this does not wait for the main thread.
  if (settler.NonBlockingCall(new std::shared_ptr<Job>(job)) != napi_ok) job->failed.store(true);
}

// One thread of a call: blocks of items from the shared cursor until none is left; the last
// thread to finish hands the call to Settle. Its OpenSSL scratch is freed before the settler is
// released, so nothing of OpenSSL runs once the event loop may end.
struct Thread {
  std::shared_ptr<Job> job;
  Settler settler;
};

void* Work(void* argument) {
  std::unique_ptr<Thread> thread(static_cast<Thread*>(argument));
  Job& job = *thread->job;
  {
    Scratch scratch(job.curve->group);
    bool ok = scratch.Ok();
    while (ok) {
      const uint32_t first = job.next.fetch_add(kBlock);
      if (first >= job.count) break;
      ok = VerifyBlock(job, first, std::min(first + kBlock, job.count), scratch);
    }
    if (!ok) job.failed.store(true);
    ERR_clear_error();
  }
  if (job.running.fetch_sub(1) == 1) Finish(thread->job, thread->settler);
  Settler settler = thread->settler;
  thread.reset();
  settler.Release();
  return nullptr;
}

// Starts `count` detached threads on the job. A thread that cannot be started leaves its share
// to the others; with none started, the call fails.
void Start(const std::shared_ptr<Job>& job, Settler settler, uint32_t count) {
  pthread_attr_t attributes;
  uint32_t started = 0;
  if (pthread_attr_init(&attributes) == 0) {
    if (pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED) == 0) {
      for (; started < count; started++) {
        auto* thread = new Thread{job, settler};
        pthread_t id;
        if (pthread_create(&id, &attributes, Work, thread) != 0) {
          delete thread;
          break;
        }
      }
    }
    pthread_attr_destroy(&attributes);
  }
  if (started == count) return;
  if (started == 0) job->failed.store(true);
  const uint32_t missing = count - started;
  if (job->running.fetch_sub(missing) == missing) Finish(job, settler);
  for (uint32_t i = 0; i < missing; i++) settler.Release();
}

}  // namespace

Napi::Function P256Verifier::Define(Napi::Env env) {
  return DefineClass(env, "P256Verifier",
                     {InstanceMethod<&P256Verifier::Verify>("verify"), InstanceMethod<&P256Verifier::Stats>("stats")});
}

P256Verifier::P256Verifier(const Napi::CallbackInfo& info) : Napi::ObjectWrap<P256Verifier>(info) {
  Napi::Env env = info.Env();
  uint64_t max_keys;
  uint64_t max_tables;
  uint64_t table_after_uses;
  uint64_t threads;
  if (info.Length() != 4 || !Integer(info[0], 1 << 20, &max_keys) || max_keys == 0 ||
      !Integer(info[1], 1 << 16, &max_tables) || !Integer(info[2], 9007199254740991.0, &table_after_uses) ||
      !Integer(info[3], kMaxThreads, &threads) || threads == 0) {
    ThrowArgument(env, false,
                  "new P256Verifier(maxKeys 1..2^20, maxTables 0..2^16, tableAfterUses >= 0, threads 1..64)");
    return;
  }
  auto curve = std::make_shared<P256Curve>();
  curve->group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  curve->order = curve->group == nullptr ? nullptr : BN_dup(EC_GROUP_get0_order(curve->group));
  curve->field = BN_new();
  if (curve->group == nullptr || curve->order == nullptr || curve->field == nullptr ||
      EC_GROUP_get_curve(curve->group, curve->field, nullptr, nullptr, nullptr) != 1) {
    ERR_clear_error();
    Napi::Error::New(env, "P-256 is not available from OpenSSL").ThrowAsJavaScriptException();
    return;
  }
  curve->tables_free.store(static_cast<int64_t>(max_tables));
  curve_ = std::move(curve);
  max_keys_ = static_cast<size_t>(max_keys);
  max_tables_ = max_tables;
  table_after_uses_ = table_after_uses;
  threads_ = static_cast<uint32_t>(threads);
}

std::shared_ptr<P256Key> P256Verifier::Lookup(const uint8_t* point) {
  std::string bytes(reinterpret_cast<const char*>(point), kPoint);
  auto found = keys_.find(bytes);
  if (found != keys_.end()) {
    recent_.splice(recent_.end(), recent_, found->second);
    return *found->second;
  }
  auto key = std::make_shared<P256Key>();
  key->bytes = std::move(bytes);
  key->curve = curve_;
  recent_.push_back(key);
  keys_.emplace(key->bytes, std::prev(recent_.end()));
  if (keys_.size() > max_keys_) {
    // Calls under way still hold the key; it is freed with the last of them.
    keys_.erase(recent_.front()->bytes);
    recent_.pop_front();
  }
  return key;
}

Napi::Value P256Verifier::Verify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* keys;
  size_t keys_length;
  void* messages;
  size_t messages_length;
  void* ends_data;
  size_t ends_length;
  void* signatures;
  size_t signatures_length;
  uint64_t count;
  if (info.Length() != 5 || !Bytes(info[0], napi_uint8_array, &keys, &keys_length) ||
      !Bytes(info[1], napi_uint8_array, &messages, &messages_length) ||
      !Bytes(info[2], napi_uint32_array, &ends_data, &ends_length) ||
      !Bytes(info[3], napi_uint8_array, &signatures, &signatures_length) || !info[4].IsNumber()) {
    return ThrowArgument(env, false, "verify(keys, messages, ends: Uint32Array, signatures, count)");
  }
  if (!Integer(info[4], kMaxCount, &count)) return ThrowArgument(env, true, "count must be an integer in 0..65536");
  if (keys_length != kPoint * count) return ThrowArgument(env, true, "keys must be 65 * count bytes");
  if (signatures_length != kSignature * count) return ThrowArgument(env, true, "signatures must be 64 * count bytes");
  if (ends_length != sizeof(uint32_t) * count) return ThrowArgument(env, true, "ends must hold count offsets");
  if (messages_length > kMaxMessageBytes) return ThrowArgument(env, true, "messages must be at most 64 MiB");
  const uint32_t* ends = static_cast<const uint32_t*>(ends_data);
  for (uint64_t i = 0; i < count; i++) {
    if (ends[i] > messages_length || (i > 0 && ends[i] < ends[i - 1]))
      return ThrowArgument(env, true, "ends must be non-decreasing offsets within messages");
  }

  auto job = std::make_shared<Job>(env);
  job->curve = curve_;
  job->table_after_uses = table_after_uses_;
  job->count = static_cast<uint32_t>(count);
  const uint8_t* message_bytes = static_cast<const uint8_t*>(messages);
  job->messages.assign(message_bytes, message_bytes + (count == 0 ? 0 : ends[count - 1]));
  job->ends.assign(ends, ends + count);
  const uint8_t* signature_bytes = static_cast<const uint8_t*>(signatures);
  job->signatures.assign(signature_bytes, signature_bytes + signatures_length);
  job->results.assign(count, 0);
  job->keys.reserve(count);
  const uint8_t* key_bytes = static_cast<const uint8_t*>(keys);
  for (uint64_t i = 0; i < count; i++) {
    const uint8_t* point = key_bytes + kPoint * i;
    // Items of one batch mostly share their key with the item before.
    if (i > 0 && std::memcmp(point, point - kPoint, kPoint) == 0) {
      job->keys.push_back(job->keys.back());
    } else {
      job->keys.push_back(Lookup(point));
    }
  }

  Napi::Promise promise = job->deferred.Promise();
  if (count == 0) {
    job->deferred.Resolve(Napi::Uint8Array::New(env, 0));
    return promise;
  }
  const uint32_t workers = std::min<uint32_t>(threads_, (job->count + kBlock - 1) / kBlock);
  job->running.store(workers);
  Start(job, Settler::New(env, "p256Verify", 0, workers), workers);
  return promise;
}

Napi::Value P256Verifier::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("keys", Napi::Number::New(env, static_cast<double>(keys_.size())));
  // Tables of keys dropped from the cache but still held by a call under way count too.
  const int64_t held = static_cast<int64_t>(max_tables_) - curve_->tables_free.load();
  stats.Set("tables", Napi::Number::New(env, static_cast<double>(held)));
  return stats;
}

}  // namespace fleet
