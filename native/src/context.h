// One ESYS context per TPM device, wrapped as a JavaScript object.
//
// ESYS contexts are not thread-safe. Every command runs on the libuv thread pool through a
// TpmWorker that holds the context mutex; the TypeScript side also queues calls so that at most
// one is in flight. A command that never returns (a hung TPM) keeps the mutex: close() then
// abandons the context instead of blocking the event loop.
#pragma once

#include <napi.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace fleet {

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Context(const Napi::CallbackInfo& info);
  ~Context() override;

  std::mutex mutex;
  ESYS_CONTEXT* esys = nullptr;
  TSS2_TCTI_CONTEXT* tcti = nullptr;

 private:
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  // Commands, defined in device.cc, objects.cc, nv.cc, signing.cc and policy.cc.
  Napi::Value Startup(const Napi::CallbackInfo& info);
  Napi::Value GetRandom(const Napi::CallbackInfo& info);
  Napi::Value GetCapability(const Napi::CallbackInfo& info);
  Napi::Value TrFromTpmPublic(const Napi::CallbackInfo& info);
  Napi::Value TrGetName(const Napi::CallbackInfo& info);
  Napi::Value ReadPublic(const Napi::CallbackInfo& info);
  Napi::Value PcrRead(const Napi::CallbackInfo& info);
  Napi::Value PcrExtend(const Napi::CallbackInfo& info);
  Napi::Value CreatePrimary(const Napi::CallbackInfo& info);
  Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value LoadExternal(const Napi::CallbackInfo& info);
  Napi::Value Sign(const Napi::CallbackInfo& info);
  Napi::Value VerifySignature(const Napi::CallbackInfo& info);
  Napi::Value Quote(const Napi::CallbackInfo& info);
  Napi::Value Certify(const Napi::CallbackInfo& info);
  Napi::Value ActivateCredential(const Napi::CallbackInfo& info);
  Napi::Value NvRead(const Napi::CallbackInfo& info);
  Napi::Value NvReadPublic(const Napi::CallbackInfo& info);
  Napi::Value NvDefineCounter(const Napi::CallbackInfo& info);
  Napi::Value NvIncrement(const Napi::CallbackInfo& info);
  Napi::Value EvictControl(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value ReadClock(const Napi::CallbackInfo& info);
  Napi::Value StartAuthSession(const Napi::CallbackInfo& info);
  Napi::Value PolicyPcr(const Napi::CallbackInfo& info);
  Napi::Value PolicySecret(const Napi::CallbackInfo& info);
  Napi::Value PolicyNv(const Napi::CallbackInfo& info);
  Napi::Value PolicyAuthorize(const Napi::CallbackInfo& info);
  Napi::Value PolicyGetDigest(const Napi::CallbackInfo& info);
  Napi::Value Unseal(const Napi::CallbackInfo& info);

  void Release();
  bool abandoned_ = false;
};

// Runs `exec` on the thread pool with the context locked, then settles a Promise:
// resolved with `done(env)` when exec returned TSS2_RC_SUCCESS, else rejected with an Error
// carrying {op, rc, rcText}. `done` runs on the main thread.
class TpmWorker : public Napi::AsyncWorker {
 public:
  using Exec = std::function<TSS2_RC(ESYS_CONTEXT*)>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  static Napi::Value Run(const Napi::CallbackInfo& info, Context* context, const char* op,
                         Exec exec, Done done);

  TpmWorker(Napi::Env env, Napi::Object self, Context* context, const char* op, Exec exec,
            Done done);
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

  Napi::Promise::Deferred deferred;

 private:
  Napi::ObjectReference self_;
  Context* context_;
  std::string op_;
  Exec exec_;
  Done done_;
  TSS2_RC rc_ = TSS2_RC_SUCCESS;
};

// Starts an HMAC session salted with `saltKey` (a loaded decryption key: the storage primary),
// with AES-128-CFB parameter encryption and the given TPMA_SESSION_DECRYPT / _ENCRYPT attributes,
// for use in a command's second or third session slot. The session key derives from a salt that
// only the TPM can decrypt, so the parameters it encrypts never cross the TPM bus in clear. The
// caller flushes the session (it is started with continueSession set, so it is never ambiguous
// whether the TPM still holds it).
TSS2_RC StartEncryptionSession(ESYS_CONTEXT* ctx, ESYS_TR saltKey, TPMA_SESSION attributes, ESYS_TR* session);

// Runs `command` with a fresh encryption session (above), then flushes the session whatever the
// command returned. Returns the command's response code, or the session's if it could not start.
TSS2_RC WithEncryptionSession(ESYS_CONTEXT* ctx, ESYS_TR saltKey, TPMA_SESSION attributes,
                              const std::function<TSS2_RC(ESYS_TR)>& command);

// A rejected Promise for bad arguments (bytes that do not unmarshal, values out of range).
Napi::Value RejectArgument(Napi::Env env, const char* op, const std::string& message);

// Error object for a TPM response code.
Napi::Error TpmError(Napi::Env env, const std::string& op, TSS2_RC rc);

}  // namespace fleet
