// Commands on objects: trFromTpmPublic, trGetName, readPublic, createPrimary, create, load,
// loadExternal, evictControl, flush.
// Each method checks its arguments on the main thread (rejecting with ERR_TPM_ARGUMENT), runs the
// ESYS call in a TpmWorker, and returns the results marshalled in TPM wire format.
// Object authorisation is the empty password throughout: keys are protected by fixedTPM and by PCR
// policies, not by secrets held in this process.
#include "args.h"
#include "context.h"

namespace fleet {

#define REJECT(op, message) return RejectArgument(info.Env(), op, message)

Napi::Value Context::TrFromTpmPublic(const Napi::CallbackInfo& info) {
  uint32_t handle = 0;
  if (!GetHandle(info, 0, &handle)) REJECT("trFromTpmPublic", "expected a TPM handle");
  auto object = std::make_shared<ESYS_TR>(ESYS_TR_NONE);
  return TpmWorker::Run(info, this, "trFromTpmPublic",
    [=](ESYS_CONTEXT* ctx) {
      return Esys_TR_FromTPMPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, object.get());
    },
    [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *object); });
}

Napi::Value Context::TrGetName(const Napi::CallbackInfo& info) {
  uint32_t handle = 0;
  if (!GetHandle(info, 0, &handle)) REJECT("trGetName", "expected an object handle");
  auto name = std::make_shared<EsysPtr<TPM2B_NAME>>();
  return TpmWorker::Run(info, this, "trGetName",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_NAME* out = nullptr;
      TSS2_RC rc = Esys_TR_GetName(ctx, handle, &out);
      name->reset(out);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value { return ToBuffer(env, (*name)->name, (*name)->size); });
}

// readPublic(object): { public: TPM2B_PUBLIC, name: bytes }
Napi::Value Context::ReadPublic(const Napi::CallbackInfo& info) {
  uint32_t handle = 0;
  if (!GetHandle(info, 0, &handle)) REJECT("readPublic", "expected an object handle");
  auto pub = std::make_shared<EsysPtr<TPM2B_PUBLIC>>();
  auto name = std::make_shared<EsysPtr<TPM2B_NAME>>();
  return TpmWorker::Run(info, this, "readPublic",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_PUBLIC* outPublic = nullptr;
      TPM2B_NAME* outName = nullptr;
      TPM2B_NAME* qualified = nullptr;
      TSS2_RC rc = Esys_ReadPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   &outPublic, &outName, &qualified);
      pub->reset(outPublic);
      name->reset(outName);
      Esys_Free(qualified);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Object result = Napi::Object::New(env);
      result.Set("public", Marshal(env, pub->get(), Tss2_MU_TPM2B_PUBLIC_Marshal));
      result.Set("name", ToBuffer(env, (*name)->name, (*name)->size));
      return result;
    });
}

// createPrimary(hierarchy, sensitive: TPM2B_SENSITIVE_CREATE, template: TPM2B_PUBLIC)
//   : { handle, public: TPM2B_PUBLIC }
Napi::Value Context::CreatePrimary(const Napi::CallbackInfo& info) {
  uint32_t hierarchy = 0;
  if (!GetHandle(info, 0, &hierarchy)) REJECT("createPrimary", "expected a hierarchy handle");
  auto sensitive = ArgStruct(info, 1, Tss2_MU_TPM2B_SENSITIVE_CREATE_Unmarshal);
  auto templ = ArgStruct(info, 2, Tss2_MU_TPM2B_PUBLIC_Unmarshal);
  if (!sensitive || !templ) REJECT("createPrimary", "sensitive or template does not unmarshal");
  auto handle = std::make_shared<ESYS_TR>(ESYS_TR_NONE);
  auto pub = std::make_shared<EsysPtr<TPM2B_PUBLIC>>();
  return TpmWorker::Run(info, this, "createPrimary",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_DATA outside = {};
      TPML_PCR_SELECTION creationPcr = {};
      TPM2B_PUBLIC* outPublic = nullptr;
      TPM2B_CREATION_DATA* creationData = nullptr;
      TPM2B_DIGEST* creationHash = nullptr;
      TPMT_TK_CREATION* ticket = nullptr;
      TSS2_RC rc = Esys_CreatePrimary(ctx, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                      sensitive.get(), templ.get(), &outside, &creationPcr,
                                      handle.get(), &outPublic, &creationData, &creationHash, &ticket);
      pub->reset(outPublic);
      Esys_Free(creationData);
      Esys_Free(creationHash);
      Esys_Free(ticket);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Object result = Napi::Object::New(env);
      result.Set("handle", Napi::Number::New(env, *handle));
      result.Set("public", Marshal(env, pub->get(), Tss2_MU_TPM2B_PUBLIC_Marshal));
      return result;
    });
}

// create(parent, sensitive, template, protect: boolean): { private: TPM2B_PRIVATE, public }
// With `protect`, inSensitive (the data of a sealed object) travels encrypted: a second session,
// salted with the parent key, decrypts it inside the TPM (TPMA_SESSION_DECRYPT).
Napi::Value Context::Create(const Napi::CallbackInfo& info) {
  uint32_t parent = 0;
  if (!GetHandle(info, 0, &parent)) REJECT("create", "expected a parent handle");
  auto sensitive = ArgStruct(info, 1, Tss2_MU_TPM2B_SENSITIVE_CREATE_Unmarshal);
  auto templ = ArgStruct(info, 2, Tss2_MU_TPM2B_PUBLIC_Unmarshal);
  if (!sensitive || !templ) REJECT("create", "sensitive or template does not unmarshal");
  bool protect = info[3].ToBoolean().Value();
  auto priv = std::make_shared<EsysPtr<TPM2B_PRIVATE>>();
  auto pub = std::make_shared<EsysPtr<TPM2B_PUBLIC>>();
  return TpmWorker::Run(info, this, "create",
    [=](ESYS_CONTEXT* ctx) {
      auto run = [&](ESYS_TR encryption) -> TSS2_RC {
        TPM2B_DATA outside = {};
        TPML_PCR_SELECTION creationPcr = {};
        TPM2B_PRIVATE* outPrivate = nullptr;
        TPM2B_PUBLIC* outPublic = nullptr;
        TPM2B_CREATION_DATA* creationData = nullptr;
        TPM2B_DIGEST* creationHash = nullptr;
        TPMT_TK_CREATION* ticket = nullptr;
        TSS2_RC rc = Esys_Create(ctx, parent, ESYS_TR_PASSWORD, encryption, ESYS_TR_NONE,
                                 sensitive.get(), templ.get(), &outside, &creationPcr, &outPrivate,
                                 &outPublic, &creationData, &creationHash, &ticket);
        priv->reset(outPrivate);
        pub->reset(outPublic);
        Esys_Free(creationData);
        Esys_Free(creationHash);
        Esys_Free(ticket);
        return rc;
      };
      TSS2_RC rc = protect ? WithEncryptionSession(ctx, parent, TPMA_SESSION_DECRYPT, run) : run(ESYS_TR_NONE);
      // The sealed data is secret: wipe this copy of it.
      std::memset(sensitive->sensitive.data.buffer, 0, sizeof(sensitive->sensitive.data.buffer));
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Object result = Napi::Object::New(env);
      result.Set("private", Marshal(env, priv->get(), Tss2_MU_TPM2B_PRIVATE_Marshal));
      result.Set("public", Marshal(env, pub->get(), Tss2_MU_TPM2B_PUBLIC_Marshal));
      return result;
    });
}

// load(parent, private: TPM2B_PRIVATE, public: TPM2B_PUBLIC): handle
Napi::Value Context::Load(const Napi::CallbackInfo& info) {
  uint32_t parent = 0;
  if (!GetHandle(info, 0, &parent)) REJECT("load", "expected a parent handle");
  auto priv = ArgStruct(info, 1, Tss2_MU_TPM2B_PRIVATE_Unmarshal);
  auto pub = ArgStruct(info, 2, Tss2_MU_TPM2B_PUBLIC_Unmarshal);
  if (!priv || !pub) REJECT("load", "private or public does not unmarshal");
  auto handle = std::make_shared<ESYS_TR>(ESYS_TR_NONE);
  return TpmWorker::Run(info, this, "load",
    [=](ESYS_CONTEXT* ctx) {
      return Esys_Load(ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv.get(),
                       pub.get(), handle.get());
    },
    [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *handle); });
}

// loadExternal(public: TPM2B_PUBLIC, hierarchy): handle — a public key only, e.g. to verify an
// authority's signature for PolicyAuthorize (the ticket is usable only from a non-null hierarchy).
Napi::Value Context::LoadExternal(const Napi::CallbackInfo& info) {
  auto pub = ArgStruct(info, 0, Tss2_MU_TPM2B_PUBLIC_Unmarshal);
  uint32_t hierarchy = 0;
  if (!pub || !GetHandle(info, 1, &hierarchy)) REJECT("loadExternal", "expected (TPM2B_PUBLIC, hierarchy)");
  auto handle = std::make_shared<ESYS_TR>(ESYS_TR_NONE);
  return TpmWorker::Run(info, this, "loadExternal",
    [=](ESYS_CONTEXT* ctx) {
      return Esys_LoadExternal(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr, pub.get(),
                               hierarchy, handle.get());
    },
    [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *handle); });
}

// evictControl(object, persistentHandle): handle — makes a transient object persistent, or
// removes a persistent one when given its own handle. Owner authorisation.
Napi::Value Context::EvictControl(const Napi::CallbackInfo& info) {
  uint32_t object = 0, persistent = 0;
  if (!GetHandle(info, 0, &object) || !GetHandle(info, 1, &persistent)) {
    REJECT("evictControl", "expected (object, persistentHandle)");
  }
  auto handle = std::make_shared<ESYS_TR>(ESYS_TR_NONE);
  return TpmWorker::Run(info, this, "evictControl",
    [=](ESYS_CONTEXT* ctx) {
      return Esys_EvictControl(ctx, ESYS_TR_RH_OWNER, object, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, persistent, handle.get());
    },
    [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *handle); });
}

// flush(handle): flushes a transient object or session; for persistent and NV handles only the
// ESYS metadata is released (they stay in the TPM).
Napi::Value Context::Flush(const Napi::CallbackInfo& info) {
  uint32_t handle = 0;
  bool metadataOnly = info[1].ToBoolean().Value();
  if (!GetHandle(info, 0, &handle)) REJECT("flush", "expected a handle");
  return TpmWorker::Run(info, this, "flush",
    [=](ESYS_CONTEXT* ctx) {
      ESYS_TR tr = handle;
      return metadataOnly ? Esys_TR_Close(ctx, &tr) : Esys_FlushContext(ctx, tr);
    },
    [](Napi::Env env) { return env.Undefined(); });
}

}  // namespace fleet
