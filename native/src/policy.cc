// Sessions and policy commands: startAuthSession, policyPcr, policySecret, policyAuthorize,
// policyGetDigest, and unseal (which is authorised by a satisfied policy session).
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

// unseal(item, session): the sealed bytes, if the policy session satisfies the item's policy.
Napi::Value Context::Unseal(const Napi::CallbackInfo& info) {
  uint32_t item = 0, session = 0;
  if (!GetHandle(info, 0, &item) || !GetHandle(info, 1, &session)) REJECT("unseal", "expected (item, session)");
  auto data = std::make_shared<EsysPtr<TPM2B_SENSITIVE_DATA>>();
  return TpmWorker::Run(info, this, "unseal",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_SENSITIVE_DATA* out = nullptr;
      TSS2_RC rc = Esys_Unseal(ctx, item, session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
      data->reset(out);
      return rc;
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Buffer<uint8_t> result = ToBuffer(env, (*data)->buffer, (*data)->size);
      // Sealed data is secret: wipe the ESYS copy before it is freed.
      std::memset((*data)->buffer, 0, sizeof((*data)->buffer));
      return result;
    });
}

}  // namespace fleet
