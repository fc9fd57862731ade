// TPM commands on objects, PCRs, NV and the clock. Each method checks its arguments on the main
// thread (rejecting with ERR_TPM_ARGUMENT), runs the ESYS call in a TpmWorker, and returns the
// results marshalled in TPM wire format. Object authorisation is the empty password throughout:
// keys are protected by fixedTPM and by PCR policies, not by secrets held in this process.
#include "args.h"
#include "context.h"

namespace fleet {

#define REJECT(op, message) return RejectArgument(info.Env(), op, message)

Napi::Value Context::Startup(const Napi::CallbackInfo& info) {
  TPM2_SU type = info[0].ToBoolean().Value() ? TPM2_SU_CLEAR : TPM2_SU_STATE;
  return TpmWorker::Run(info, this, "startup",
    [type](ESYS_CONTEXT* ctx) { return Esys_Startup(ctx, type); },
    [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value Context::GetRandom(const Napi::CallbackInfo& info) {
  uint32_t count = 0;
  if (!GetHandle(info, 0, &count) || count == 0 || count > 64) REJECT("getRandom", "count must be 1..64");
  auto out = std::make_shared<EsysPtr<TPM2B_DIGEST>>();
  return TpmWorker::Run(info, this, "getRandom",
    [out, count](ESYS_CONTEXT* ctx) {
      TPM2B_DIGEST* bytes = nullptr;
      TSS2_RC rc = Esys_GetRandom(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, count, &bytes);
      out->reset(bytes);
      return rc;
    },
    [out](Napi::Env env) -> Napi::Value { return ToBuffer(env, (*out)->buffer, (*out)->size); });
}

// getCapability(capability, property, count): { more: boolean, data: TPMS_CAPABILITY_DATA }
Napi::Value Context::GetCapability(const Napi::CallbackInfo& info) {
  uint32_t capability = 0, property = 0, count = 0;
  if (!GetHandle(info, 0, &capability) || !GetHandle(info, 1, &property) || !GetHandle(info, 2, &count)) {
    REJECT("getCapability", "expected (capability, property, count)");
  }
  auto out = std::make_shared<EsysPtr<TPMS_CAPABILITY_DATA>>();
  auto more = std::make_shared<TPMI_YES_NO>(0);
  return TpmWorker::Run(info, this, "getCapability",
    [=](ESYS_CONTEXT* ctx) {
      TPMS_CAPABILITY_DATA* data = nullptr;
      TSS2_RC rc = Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, capability,
                                      property, count, more.get(), &data);
      out->reset(data);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Object result = Napi::Object::New(env);
      result.Set("more", Napi::Boolean::New(env, *more != 0));
      result.Set("data", Marshal(env, out->get(), Tss2_MU_TPMS_CAPABILITY_DATA_Marshal));
      return result;
    });
}

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

// pcrRead(selection: TPML_PCR_SELECTION): { updateCounter, selection, values: TPML_DIGEST }
// The TPM returns at most 8 digests per call; the caller loops on the returned selection.
Napi::Value Context::PcrRead(const Napi::CallbackInfo& info) {
  auto selection = ArgStruct(info, 0, Tss2_MU_TPML_PCR_SELECTION_Unmarshal);
  if (!selection) REJECT("pcrRead", "selection is not a TPML_PCR_SELECTION");
  auto counter = std::make_shared<UINT32>(0);
  auto outSelection = std::make_shared<EsysPtr<TPML_PCR_SELECTION>>();
  auto values = std::make_shared<EsysPtr<TPML_DIGEST>>();
  return TpmWorker::Run(info, this, "pcrRead",
    [=](ESYS_CONTEXT* ctx) {
      TPML_PCR_SELECTION* sel = nullptr;
      TPML_DIGEST* digests = nullptr;
      TSS2_RC rc = Esys_PCR_Read(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, selection.get(),
                                 counter.get(), &sel, &digests);
      outSelection->reset(sel);
      values->reset(digests);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Object result = Napi::Object::New(env);
      result.Set("updateCounter", Napi::Number::New(env, *counter));
      result.Set("selection", Marshal(env, outSelection->get(), Tss2_MU_TPML_PCR_SELECTION_Marshal));
      result.Set("values", Marshal(env, values->get(), Tss2_MU_TPML_DIGEST_Marshal));
      return result;
    });
}

// pcrExtend(pcr: number, digests: TPML_DIGEST_VALUES)
Napi::Value Context::PcrExtend(const Napi::CallbackInfo& info) {
  uint32_t pcr = 0;
  if (!GetHandle(info, 0, &pcr) || pcr > 23) REJECT("pcrExtend", "pcr must be 0..23");
  auto digests = ArgStruct(info, 1, Tss2_MU_TPML_DIGEST_VALUES_Unmarshal);
  if (!digests) REJECT("pcrExtend", "digests is not a TPML_DIGEST_VALUES");
  return TpmWorker::Run(info, this, "pcrExtend",
    [=](ESYS_CONTEXT* ctx) {
      return Esys_PCR_Extend(ctx, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                             digests.get());
    },
    [](Napi::Env env) { return env.Undefined(); });
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

// nvRead(nvIndex: TPM handle, maxSize): bytes — the whole index, in chunks, authorised by the
// index itself (how EK certificate indices are readable).
Napi::Value Context::NvRead(const Napi::CallbackInfo& info) {
  uint32_t index = 0, maxSize = 0;
  if (!GetHandle(info, 0, &index) || !GetHandle(info, 1, &maxSize)) REJECT("nvRead", "expected (nvIndex, maxSize)");
  auto data = std::make_shared<Bytes>();
  return TpmWorker::Run(info, this, "nvRead",
    [=](ESYS_CONTEXT* ctx) {
      ESYS_TR nv = ESYS_TR_NONE;
      TSS2_RC rc = Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
      if (rc != TSS2_RC_SUCCESS) return rc;
      TPM2B_NV_PUBLIC* nvPublic = nullptr;
      TPM2B_NAME* nvName = nullptr;
      rc = Esys_NV_ReadPublic(ctx, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nvPublic, &nvName);
      uint16_t size = rc == TSS2_RC_SUCCESS ? nvPublic->nvPublic.dataSize : 0;
      Esys_Free(nvPublic);
      Esys_Free(nvName);
      if (rc == TSS2_RC_SUCCESS && size > maxSize) rc = TSS2_ESYS_RC_BAD_SIZE;
      constexpr uint16_t kChunk = 512;
      for (uint16_t offset = 0; rc == TSS2_RC_SUCCESS && offset < size;) {
        uint16_t want = static_cast<uint16_t>(size - offset < kChunk ? size - offset : kChunk);
        TPM2B_MAX_NV_BUFFER* chunk = nullptr;
        rc = Esys_NV_Read(ctx, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, want, offset, &chunk);
        if (rc == TSS2_RC_SUCCESS) {
          data->insert(data->end(), chunk->buffer, chunk->buffer + chunk->size);
          offset = static_cast<uint16_t>(offset + chunk->size);
          if (chunk->size == 0) rc = TSS2_ESYS_RC_MALFORMED_RESPONSE;
        }
        Esys_Free(chunk);
      }
      Esys_TR_Close(ctx, &nv);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value { return ToBuffer(env, data->data(), data->size()); });
}

// nvReadPublic(nvIndex): { public: TPM2B_NV_PUBLIC, name } — what the TPM says the index is; the
// caller decides whether to trust it (src/attest/tpm/nv-counter.ts).
Napi::Value Context::NvReadPublic(const Napi::CallbackInfo& info) {
  uint32_t index = 0;
  if (!GetHandle(info, 0, &index)) REJECT("nvReadPublic", "expected (nvIndex)");
  auto pub = std::make_shared<EsysPtr<TPM2B_NV_PUBLIC>>();
  auto name = std::make_shared<EsysPtr<TPM2B_NAME>>();
  return TpmWorker::Run(info, this, "nvReadPublic",
    [=](ESYS_CONTEXT* ctx) {
      ESYS_TR nv = ESYS_TR_NONE;
      TSS2_RC rc = Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
      if (rc != TSS2_RC_SUCCESS) return rc;
      TPM2B_NV_PUBLIC* nvPublic = nullptr;
      TPM2B_NAME* nvName = nullptr;
      rc = Esys_NV_ReadPublic(ctx, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nvPublic, &nvName);
      pub->reset(nvPublic);
      name->reset(nvName);
      Esys_TR_Close(ctx, &nv);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Object result = Napi::Object::New(env);
      result.Set("public", Marshal(env, pub->get(), Tss2_MU_TPM2B_NV_PUBLIC_Marshal));
      result.Set("name", ToBuffer(env, (*name)->name, (*name)->size));
      return result;
    });
}

// nvDefineCounter(nvIndex, attributes): defines a monotonic counter (TPM_NT_COUNTER in
// `attributes`, 8 bytes, SHA-256 name, empty authorisation and policy) and increments it once, so
// that it is readable. A new counter starts at the highest value any counter of this TPM has had,
// never lower. Owner authorisation.
Napi::Value Context::NvDefineCounter(const Napi::CallbackInfo& info) {
  uint32_t index = 0, attributes = 0;
  if (!GetHandle(info, 0, &index) || !GetHandle(info, 1, &attributes) ||
      ((attributes & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) != TPM2_NT_COUNTER) {
    REJECT("nvDefineCounter", "expected (nvIndex, counter attributes)");
  }
  return TpmWorker::Run(info, this, "nvDefineCounter",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_AUTH auth = {};
      TPM2B_NV_PUBLIC pub = {};
      pub.nvPublic.nvIndex = index;
      pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
      pub.nvPublic.attributes = attributes;
      pub.nvPublic.dataSize = 8;
      ESYS_TR nv = ESYS_TR_NONE;
      TSS2_RC rc = Esys_NV_DefineSpace(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth, &pub, &nv);
      if (rc != TSS2_RC_SUCCESS) return rc;
      rc = Esys_NV_Increment(ctx, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
      Esys_TR_Close(ctx, &nv);
      return rc;
    },
    [](Napi::Env env) { return env.Undefined(); });
}

// nvIncrement(nvIndex): increments a counter made by nvDefineCounter.
Napi::Value Context::NvIncrement(const Napi::CallbackInfo& info) {
  uint32_t index = 0;
  if (!GetHandle(info, 0, &index)) REJECT("nvIncrement", "expected (nvIndex)");
  return TpmWorker::Run(info, this, "nvIncrement",
    [=](ESYS_CONTEXT* ctx) {
      ESYS_TR nv = ESYS_TR_NONE;
      TSS2_RC rc = Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
      if (rc != TSS2_RC_SUCCESS) return rc;
      rc = Esys_NV_Increment(ctx, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
      Esys_TR_Close(ctx, &nv);
      return rc;
    },
    [](Napi::Env env) { return env.Undefined(); });
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

// readClock(): TPMS_TIME_INFO
Napi::Value Context::ReadClock(const Napi::CallbackInfo& info) {
  auto time = std::make_shared<EsysPtr<TPMS_TIME_INFO>>();
  return TpmWorker::Run(info, this, "readClock",
    [=](ESYS_CONTEXT* ctx) {
      TPMS_TIME_INFO* out = nullptr;
      TSS2_RC rc = Esys_ReadClock(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out);
      time->reset(out);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value { return Marshal(env, time->get(), Tss2_MU_TPMS_TIME_INFO_Marshal); });
}

}  // namespace fleet
