// Commands on NV indices: nvRead, nvReadPublic, nvDefineCounter, nvIncrement.
// Each method checks its arguments on the main thread (rejecting with ERR_TPM_ARGUMENT), runs the
// ESYS call in a TpmWorker, and returns the results marshalled in TPM wire format.
#include "args.h"
#include "context.h"

namespace fleet {

#define REJECT(op, message) return RejectArgument(info.Env(), op, message)

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

}  // namespace fleet
