// Sessions and policy commands: startAuthSession, policyPcr, policySecret, policyNv,
// policyAuthorize, policyGetDigest, and unseal (which is authorised by a satisfied policy session).
#include "args.h"
#include "context.h"

namespace fleet {

#define REJECT(op, message) return RejectArgument(info.Env(), op, message)

// startAuthSession(type: 0 hmac | 1 policy | 3 trial): session handle. Unbound, unsalted,
// SHA-256; sessions are flushed by the TPM after one use (continueSession clear) or by flush().
Napi::Value Context::StartAuthSession(const Napi::CallbackInfo& info) {
  uint32_t type = 0;
  if (!GetHandle(info, 0, &type) || (type != TPM2_SE_HMAC && type != TPM2_SE_POLICY && type != TPM2_SE_TRIAL)) {
    REJECT("startAuthSession", "type must be 0 (hmac), 1 (policy) or 3 (trial)");
  }
  auto session = std::make_shared<ESYS_TR>(ESYS_TR_NONE);
  return TpmWorker::Run(info, this, "startAuthSession",
    [=](ESYS_CONTEXT* ctx) {
      TPMT_SYM_DEF symmetric = {};
      symmetric.algorithm = TPM2_ALG_NULL;
      TSS2_RC rc = Esys_StartAuthSession(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                         ESYS_TR_NONE, nullptr, static_cast<TPM2_SE>(type), &symmetric,
                                         TPM2_ALG_SHA256, session.get());
      if (rc == TSS2_RC_SUCCESS && type != TPM2_SE_HMAC) {
        // Policy sessions are single-use: the TPM flushes them after the authorised command.
        rc = Esys_TRSess_SetAttributes(ctx, *session, 0, TPMA_SESSION_CONTINUESESSION);
      }
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *session); });
}

// policyPcr(session, pcrDigest (may be empty: the TPM uses the current values), selection)
Napi::Value Context::PolicyPcr(const Napi::CallbackInfo& info) {
  uint32_t session = 0;
  if (!GetHandle(info, 0, &session)) REJECT("policyPcr", "expected a session handle");
  auto pcrDigest = ArgTpm2b<TPM2B_DIGEST>(info, 1);
  auto selection = ArgStruct(info, 2, Tss2_MU_TPML_PCR_SELECTION_Unmarshal);
  if (!pcrDigest || !selection) REJECT("policyPcr", "pcrDigest or selection is invalid");
  return TpmWorker::Run(info, this, "policyPcr",
    [=](ESYS_CONTEXT* ctx) {
      return Esys_PolicyPCR(ctx, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, pcrDigest.get(),
                            selection.get());
    },
    [](Napi::Env env) { return env.Undefined(); });
}

// policySecret(authEntity, session): satisfied by the (empty) password of authEntity, e.g. the
// endorsement hierarchy for the EK policy.
Napi::Value Context::PolicySecret(const Napi::CallbackInfo& info) {
  uint32_t entity = 0, session = 0;
  if (!GetHandle(info, 0, &entity) || !GetHandle(info, 1, &session)) REJECT("policySecret", "expected (authEntity, session)");
  return TpmWorker::Run(info, this, "policySecret",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_NONCE nonceTpm = {};
      TPM2B_DIGEST cpHash = {};
      TPM2B_NONCE policyRef = {};
      TPM2B_TIMEOUT* timeout = nullptr;
      TPMT_TK_AUTH* ticket = nullptr;
      TSS2_RC rc = Esys_PolicySecret(ctx, entity, session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &nonceTpm, &cpHash, &policyRef, 0, &timeout, &ticket);
      Esys_Free(timeout);
      Esys_Free(ticket);
      return rc;
    },
    [](Napi::Env env) { return env.Undefined(); });
}

// policyNv(session, nvIndex, operandB, offset, operation): TPM2_PolicyNV, comparing the index's
// contents at `offset` with operandB (TPM_EO operation), authorised by the index itself (empty
// password: the counters this project defines are AUTHREAD).
Napi::Value Context::PolicyNv(const Napi::CallbackInfo& info) {
  uint32_t session = 0, index = 0, offset = 0, operation = 0;
  if (!GetHandle(info, 0, &session) || !GetHandle(info, 1, &index)) REJECT("policyNv", "expected (session, nvIndex, …)");
  auto operand = ArgTpm2b<TPM2B_OPERAND>(info, 2);
  if (!operand || !GetHandle(info, 3, &offset) || offset > 0xffff || !GetHandle(info, 4, &operation) || operation > TPM2_EO_BITCLEAR) {
    REJECT("policyNv", "operandB, offset or operation is invalid");
  }
  return TpmWorker::Run(info, this, "policyNv",
    [=](ESYS_CONTEXT* ctx) {
      ESYS_TR nv = ESYS_TR_NONE;
      TSS2_RC rc = Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
      if (rc != TSS2_RC_SUCCESS) return rc;
      rc = Esys_PolicyNV(ctx, nv, nv, session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, operand.get(),
                         static_cast<UINT16>(offset), static_cast<TPM2_EO>(operation));
      Esys_TR_Close(ctx, &nv);
      return rc;
    },
    [](Napi::Env env) { return env.Undefined(); });
}

// policyAuthorize(session, approvedPolicy, policyRef, keySignName, ticket: TPMT_TK_VERIFIED)
Napi::Value Context::PolicyAuthorize(const Napi::CallbackInfo& info) {
  uint32_t session = 0;
  if (!GetHandle(info, 0, &session)) REJECT("policyAuthorize", "expected a session handle");
  auto approved = ArgTpm2b<TPM2B_DIGEST>(info, 1);
  auto policyRef = ArgTpm2b<TPM2B_NONCE>(info, 2);
  auto keySign = std::make_shared<TPM2B_NAME>();
  bool nameOk = IsBytes(info, 3) && [&]() {
    Bytes name = CopyBytes(info[3]);
    if (name.size() > sizeof(keySign->name)) return false;
    keySign->size = static_cast<UINT16>(name.size());
    std::memcpy(keySign->name, name.data(), name.size());
    return true;
  }();
  auto ticket = ArgStruct(info, 4, Tss2_MU_TPMT_TK_VERIFIED_Unmarshal);
  if (!approved || !policyRef || !nameOk || !ticket) REJECT("policyAuthorize", "invalid arguments");
  return TpmWorker::Run(info, this, "policyAuthorize",
    [=](ESYS_CONTEXT* ctx) {
      return Esys_PolicyAuthorize(ctx, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, approved.get(),
                                  policyRef.get(), keySign.get(), ticket.get());
    },
    [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value Context::PolicyGetDigest(const Napi::CallbackInfo& info) {
  uint32_t session = 0;
  if (!GetHandle(info, 0, &session)) REJECT("policyGetDigest", "expected a session handle");
  auto digest = std::make_shared<EsysPtr<TPM2B_DIGEST>>();
  return TpmWorker::Run(info, this, "policyGetDigest",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_DIGEST* out = nullptr;
      TSS2_RC rc = Esys_PolicyGetDigest(ctx, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out);
      digest->reset(out);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value { return ToBuffer(env, (*digest)->buffer, (*digest)->size); });
}

// unseal(item, session, saltKey): the sealed bytes, if the policy session satisfies the item's
// policy. They come back encrypted (TPMA_SESSION_ENCRYPT) under a second session salted with
// `saltKey`, the loaded storage primary: nothing on the TPM bus reveals them.
Napi::Value Context::Unseal(const Napi::CallbackInfo& info) {
  uint32_t item = 0, session = 0, saltKey = 0;
  if (!GetHandle(info, 0, &item) || !GetHandle(info, 1, &session) || !GetHandle(info, 2, &saltKey)) {
    REJECT("unseal", "expected (item, session, saltKey)");
  }
  auto data = std::make_shared<EsysPtr<TPM2B_SENSITIVE_DATA>>();
  return TpmWorker::Run(info, this, "unseal",
    [=](ESYS_CONTEXT* ctx) {
      return WithEncryptionSession(ctx, saltKey, TPMA_SESSION_ENCRYPT, [&](ESYS_TR encryption) {
        TPM2B_SENSITIVE_DATA* out = nullptr;
        TSS2_RC rc = Esys_Unseal(ctx, item, session, encryption, ESYS_TR_NONE, &out);
        data->reset(out);
        return rc;
      });
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Buffer<uint8_t> result = ToBuffer(env, (*data)->buffer, (*data)->size);
      // Sealed data is secret: wipe the ESYS copy before it is freed.
      std::memset((*data)->buffer, 0, sizeof((*data)->buffer));
      return result;
    });
}

}  // namespace fleet
