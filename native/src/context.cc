#include "context.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <tss2/tss2_rc.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace fleet {

namespace {
// Distinguishes "no TPM response" conditions from TPM response codes on the JS side.
constexpr TSS2_RC kNotOpen = 0xffff0001;
}  // namespace

Napi::Function Context::Define(Napi::Env env) {
  return DefineClass(env, "Context", {
    InstanceMethod<&Context::Open>("open"),
    InstanceMethod<&Context::Close>("close"),
    InstanceMethod<&Context::Abort>("abort"),
    InstanceMethod<&Context::Startup>("startup"),
    InstanceMethod<&Context::GetRandom>("getRandom"),
    InstanceMethod<&Context::GetCapability>("getCapability"),
    InstanceMethod<&Context::TrFromTpmPublic>("trFromTpmPublic"),
    InstanceMethod<&Context::TrGetName>("trGetName"),
    InstanceMethod<&Context::ReadPublic>("readPublic"),
    InstanceMethod<&Context::PcrRead>("pcrRead"),
    InstanceMethod<&Context::PcrExtend>("pcrExtend"),
    InstanceMethod<&Context::CreatePrimary>("createPrimary"),
    InstanceMethod<&Context::Create>("create"),
    InstanceMethod<&Context::Load>("load"),
    InstanceMethod<&Context::LoadExternal>("loadExternal"),
    InstanceMethod<&Context::Sign>("sign"),
    InstanceMethod<&Context::VerifySignature>("verifySignature"),
    InstanceMethod<&Context::Quote>("quote"),
    InstanceMethod<&Context::Certify>("certify"),
    InstanceMethod<&Context::ActivateCredential>("activateCredential"),
    InstanceMethod<&Context::NvRead>("nvRead"),
    InstanceMethod<&Context::NvReadPublic>("nvReadPublic"),
    InstanceMethod<&Context::NvDefineCounter>("nvDefineCounter"),
    InstanceMethod<&Context::NvIncrement>("nvIncrement"),
    InstanceMethod<&Context::EvictControl>("evictControl"),
    InstanceMethod<&Context::Flush>("flush"),
    InstanceMethod<&Context::ReadClock>("readClock"),
    InstanceMethod<&Context::StartAuthSession>("startAuthSession"),
    InstanceMethod<&Context::PolicyPcr>("policyPcr"),
    InstanceMethod<&Context::PolicySecret>("policySecret"),
    InstanceMethod<&Context::PolicyNv>("policyNv"),
    InstanceMethod<&Context::PolicyAuthorize>("policyAuthorize"),
    InstanceMethod<&Context::PolicyGetDigest>("policyGetDigest"),
    InstanceMethod<&Context::Unseal>("unseal"),
  });
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {}

Context::~Context() { Release(); }

void Context::Release() {
  // A worker stuck in a hung TPM call holds the mutex; never block the main thread on it.
  std::unique_lock<std::mutex> lock(mutex, std::try_to_lock);
  if (!lock.owns_lock()) {
    abandoned_ = true;
    return;
  }
  if (esys != nullptr) Esys_Finalize(&esys);
  if (tcti != nullptr) Tss2_TctiLdr_Finalize(&tcti);
  esys = nullptr;
  tcti = nullptr;
}

// open(tcti: string, timeoutMs: number): Promise<void>
Napi::Value Context::Open(const Napi::CallbackInfo& info) {
  if (!info[0].IsString() || !info[1].IsNumber()) {
    return RejectArgument(info.Env(), "open", "expected (tcti: string, timeoutMs: number)");
  }
  std::string conf = info[0].As<Napi::String>().Utf8Value();
  int32_t timeout = info[1].As<Napi::Number>().Int32Value();
  Context* self = this;
  // Runs without an ESYS context yet, so it bypasses the not-open check in TpmWorker.
  return TpmWorker::Run(info, this, "open",
    [self, conf, timeout](ESYS_CONTEXT*) -> TSS2_RC {
      if (self->esys != nullptr) return TSS2_RC_SUCCESS;
      TSS2_RC rc = Tss2_TctiLdr_Initialize(conf.c_str(), &self->tcti);
      if (rc != TSS2_RC_SUCCESS) return rc;
      rc = Esys_Initialize(&self->esys, self->tcti, nullptr);
      if (rc != TSS2_RC_SUCCESS) {
        Tss2_TctiLdr_Finalize(&self->tcti);
        self->tcti = nullptr;
        return rc;
      }
      return Esys_SetTimeout(self->esys, timeout);
    },
    [](Napi::Env env) { return env.Undefined(); });
}

// abort(socketPath): unblocks a command stuck waiting for a TPM that does not answer, by shutting
// down this process's unix sockets connected to socketPath (and its .ctrl channel). The socket TCTIs
// do not expose their descriptors, and the hang can happen inside TCTI initialisation, so the
// sockets are found by their peer address. Deliberately lock-free: the stuck command holds the
// mutex. The command then fails and its thread returns (process exit waits for it).
Napi::Value Context::Abort(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return info.Env().Undefined();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string control = path + ".ctrl";
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return info.Env().Undefined();
  while (struct dirent* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2) continue;
    struct sockaddr_un peer = {};
    socklen_t length = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<struct sockaddr*>(&peer), &length) != 0 || peer.sun_family != AF_UNIX) continue;
    size_t max = length > offsetof(struct sockaddr_un, sun_path) ? length - offsetof(struct sockaddr_un, sun_path) : 0;
    std::string name(peer.sun_path, strnlen(peer.sun_path, max));
    if (name == path || name == control) shutdown(fd, SHUT_RDWR);
  }
  closedir(dir);
  return info.Env().Undefined();
}

// close(): boolean — false when a command is still running and the context was abandoned.
Napi::Value Context::Close(const Napi::CallbackInfo& info) {
  Release();
  return Napi::Boolean::New(info.Env(), !abandoned_);
}

Napi::Value TpmWorker::Run(const Napi::CallbackInfo& info, Context* context, const char* op,
                           Exec exec, Done done) {
  auto* worker = new TpmWorker(info.Env(), info.This().As<Napi::Object>(), context, op,
                               std::move(exec), std::move(done));
  auto promise = worker->deferred.Promise();
  worker->Queue();
  return promise;
}

TpmWorker::TpmWorker(Napi::Env env, Napi::Object self, Context* context, const char* op,
                     Exec exec, Done done)
    : Napi::AsyncWorker(env, op),
      deferred(Napi::Promise::Deferred::New(env)),
      self_(Napi::Persistent(self)),
      context_(context),
      op_(op),
      exec_(std::move(exec)),
      done_(std::move(done)) {}

void TpmWorker::Execute() {
  std::lock_guard<std::mutex> lock(context_->mutex);
  if (context_->esys == nullptr && op_ != "open") {
    rc_ = kNotOpen;
    return;
  }
  rc_ = exec_(context_->esys);
}

void TpmWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (rc_ != TSS2_RC_SUCCESS) {
    deferred.Reject(TpmError(env, op_, rc_).Value());
    return;
  }
  Napi::Value value = done_(env);
  if (env.IsExceptionPending()) {
    deferred.Reject(env.GetAndClearPendingException().Value());
    return;
  }
  deferred.Resolve(value);
}

void TpmWorker::OnError(const Napi::Error& error) { deferred.Reject(error.Value()); }

Napi::Error TpmError(Napi::Env env, const std::string& op, TSS2_RC rc) {
  std::string text = rc == kNotOpen ? "the TPM context is not open" : Tss2_RC_Decode(rc);
  Napi::Error error = Napi::Error::New(env, op + ": " + text);
  error.Set("op", Napi::String::New(env, op));
  error.Set("rc", Napi::Number::New(env, rc));
  error.Set("rcText", Napi::String::New(env, text));
  return error;
}

TSS2_RC StartEncryptionSession(ESYS_CONTEXT* ctx, ESYS_TR saltKey, TPMA_SESSION attributes, ESYS_TR* session) {
  TPMT_SYM_DEF symmetric = {};
  symmetric.algorithm = TPM2_ALG_AES;
  symmetric.keyBits.aes = 128;
  symmetric.mode.aes = TPM2_ALG_CFB;
  TSS2_RC rc = Esys_StartAuthSession(ctx, saltKey, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     nullptr, TPM2_SE_HMAC, &symmetric, TPM2_ALG_SHA256, session);
  if (rc != TSS2_RC_SUCCESS) return rc;
  const TPMA_SESSION mask = TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION;
  rc = Esys_TRSess_SetAttributes(ctx, *session, attributes | TPMA_SESSION_CONTINUESESSION, mask);
  if (rc != TSS2_RC_SUCCESS) {
    Esys_FlushContext(ctx, *session);
    *session = ESYS_TR_NONE;
  }
  return rc;
}

TSS2_RC WithEncryptionSession(ESYS_CONTEXT* ctx, ESYS_TR saltKey, TPMA_SESSION attributes,
                              const std::function<TSS2_RC(ESYS_TR)>& command) {
  ESYS_TR session = ESYS_TR_NONE;
  TSS2_RC rc = StartEncryptionSession(ctx, saltKey, attributes, &session);
  if (rc != TSS2_RC_SUCCESS) return rc;
  rc = command(session);
  Esys_FlushContext(ctx, session);
  return rc;
}

Napi::Value RejectArgument(Napi::Env env, const char* op, const std::string& message) {
  auto deferred = Napi::Promise::Deferred::New(env);
  Napi::Error error = Napi::TypeError::New(env, std::string(op) + ": " + message);
  error.Set("op", Napi::String::New(env, op));
  error.Set("code", Napi::String::New(env, "ERR_TPM_ARGUMENT"));
  deferred.Reject(error.Value());
  return deferred.Promise();
}

}  // namespace fleet
