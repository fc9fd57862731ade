// N-API binding of tpm2-tss ESAPI. See context.h for the threading model and marshal.h for the
// byte-buffer boundary. Only src/attest/tpm/native.ts imports this module. It also carries the
// ledger's batch hashing (ledger_hash.h), which the agent already loads and measures with it,
// and trimHeap, which hands the process's freed malloc memory back to the kernel.
#include <napi.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "context.h"
#include "ledger_hash.h"

namespace {

// glibc keeps memory freed by malloc in its arenas (one per thread that allocates: the libuv and
// V8 worker threads too) for reuse; malloc_trim(0) returns the free pages of every arena. Returns
// whether any memory was released; false where malloc_trim does not exist.
Napi::Value TrimHeap(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Context", fleet::Context::Define(env));
  exports.Set("hashEntries", Napi::Function::New<fleet::HashEntries>(env, "hashEntries"));
  exports.Set("hashPairs", Napi::Function::New<fleet::HashPairs>(env, "hashPairs"));
  exports.Set("trimHeap", Napi::Function::New<TrimHeap>(env, "trimHeap"));
  exports.Set("ESYS_TR_NONE", Napi::Number::New(env, ESYS_TR_NONE));
  exports.Set("ESYS_TR_PASSWORD", Napi::Number::New(env, ESYS_TR_PASSWORD));
  exports.Set("ESYS_TR_RH_OWNER", Napi::Number::New(env, ESYS_TR_RH_OWNER));
  exports.Set("ESYS_TR_RH_NULL", Napi::Number::New(env, ESYS_TR_RH_NULL));
  exports.Set("ESYS_TR_RH_ENDORSEMENT", Napi::Number::New(env, ESYS_TR_RH_ENDORSEMENT));
  exports.Set("ESYS_TR_RH_PLATFORM", Napi::Number::New(env, ESYS_TR_RH_PLATFORM));
  return exports;
}

}  // namespace

NODE_API_MODULE(fleet_tpm, Init)
