// N-API binding of tpm2-tss ESAPI. See context.h for the threading model and marshal.h for the
// byte-buffer boundary. Only src/attest/tpm/native.ts loads this module. It also carries the
// ledger's batch hashing (ledger_hash.h), which the agent already loads and measures with it, and the
// credentials of a Unix socket's peer (peer_credentials.h) for the agent's control socket, and the
// batch verification of P-256 signatures (p256_verify.h) for actor-signed ledger entries.
#include <napi.h>

#include "context.h"
#include "ledger_hash.h"
#include "p256_verify.h"
#include "file_lock.h"
#include "peer_credentials.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Context", fleet::Context::Define(env));
  exports.Set("hashEntries", Napi::Function::New<fleet::HashEntries>(env, "hashEntries"));
  exports.Set("hashPairs", Napi::Function::New<fleet::HashPairs>(env, "hashPairs"));
  exports.Set("P256Verifier", fleet::P256Verifier::Define(env));
  exports.Set("peerCredentials", Napi::Function::New<fleet::PeerCredentials>(env, "peerCredentials"));
  exports.Set("flockNonBlocking", Napi::Function::New<fleet::FlockNonBlocking>(env, "flockNonBlocking"));
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
