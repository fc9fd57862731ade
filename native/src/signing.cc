// Signing and attestation commands: sign, verifySignature, quote, certify, activateCredential.
#include "args.h"
#include "context.h"

namespace fleet {

#define REJECT(op, message) return RejectArgument(info.Env(), op, message)

namespace {

// { attest: TPMS_ATTEST bytes, signature: TPMT_SIGNATURE }
Napi::Value AttestResult(Napi::Env env, const EsysPtr<TPM2B_ATTEST>& attest,
                         const EsysPtr<TPMT_SIGNATURE>& signature) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("attest", ToBuffer(env, attest->attestationData, attest->size));
  result.Set("signature", Marshal(env, signature.get(), Tss2_MU_TPMT_SIGNATURE_Marshal));
  return result;
}

}  // namespace

// sign(key, digest, scheme: TPMT_SIG_SCHEME): TPMT_SIGNATURE. For non-restricted keys only: the
// null hashcheck ticket means the TPM did not compute the digest (restricted keys refuse it).
Napi::Value Context::Sign(const Napi::CallbackInfo& info) {
  uint32_t key = 0;
  if (!GetHandle(info, 0, &key)) REJECT("sign", "expected a key handle");
  auto digest = ArgTpm2b<TPM2B_DIGEST>(info, 1);
  auto scheme = ArgStruct(info, 2, Tss2_MU_TPMT_SIG_SCHEME_Unmarshal);
  if (!digest || !scheme) REJECT("sign", "digest or scheme is invalid");
  auto signature = std::make_shared<EsysPtr<TPMT_SIGNATURE>>();
  return TpmWorker::Run(info, this, "sign",
    [=](ESYS_CONTEXT* ctx) {
      TPMT_TK_HASHCHECK ticket = {};
      ticket.tag = TPM2_ST_HASHCHECK;
      ticket.hierarchy = TPM2_RH_NULL;
      TPMT_SIGNATURE* out = nullptr;
      TSS2_RC rc = Esys_Sign(ctx, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, digest.get(),
                             scheme.get(), &ticket, &out);
      signature->reset(out);
      return rc;
    },
    [=](Napi::Env env) { return Marshal(env, signature->get(), Tss2_MU_TPMT_SIGNATURE_Marshal); });
}

// verifySignature(key, digest, signature: TPMT_SIGNATURE): TPMT_TK_VERIFIED
Napi::Value Context::VerifySignature(const Napi::CallbackInfo& info) {
  uint32_t key = 0;
  if (!GetHandle(info, 0, &key)) REJECT("verifySignature", "expected a key handle");
  auto digest = ArgTpm2b<TPM2B_DIGEST>(info, 1);
  auto signature = ArgStruct(info, 2, Tss2_MU_TPMT_SIGNATURE_Unmarshal);
  if (!digest || !signature) REJECT("verifySignature", "digest or signature is invalid");
  auto ticket = std::make_shared<EsysPtr<TPMT_TK_VERIFIED>>();
  return TpmWorker::Run(info, this, "verifySignature",
    [=](ESYS_CONTEXT* ctx) {
      TPMT_TK_VERIFIED* out = nullptr;
      TSS2_RC rc = Esys_VerifySignature(ctx, key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                        digest.get(), signature.get(), &out);
      ticket->reset(out);
      return rc;
    },
    [=](Napi::Env env) { return Marshal(env, ticket->get(), Tss2_MU_TPMT_TK_VERIFIED_Marshal); });
}

// quote(key, qualifyingData, scheme: TPMT_SIG_SCHEME, selection: TPML_PCR_SELECTION)
Napi::Value Context::Quote(const Napi::CallbackInfo& info) {
  uint32_t key = 0;
  if (!GetHandle(info, 0, &key)) REJECT("quote", "expected a key handle");
  auto qualifying = ArgTpm2b<TPM2B_DATA>(info, 1);
  auto scheme = ArgStruct(info, 2, Tss2_MU_TPMT_SIG_SCHEME_Unmarshal);
  auto selection = ArgStruct(info, 3, Tss2_MU_TPML_PCR_SELECTION_Unmarshal);
  if (!qualifying || !scheme || !selection) REJECT("quote", "qualifyingData, scheme or selection is invalid");
  auto attest = std::make_shared<EsysPtr<TPM2B_ATTEST>>();
  auto signature = std::make_shared<EsysPtr<TPMT_SIGNATURE>>();
  return TpmWorker::Run(info, this, "quote",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_ATTEST* quoted = nullptr;
      TPMT_SIGNATURE* sig = nullptr;
      TSS2_RC rc = Esys_Quote(ctx, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                              qualifying.get(), scheme.get(), selection.get(), &quoted, &sig);
      attest->reset(quoted);
      signature->reset(sig);
      return rc;
    },
    [=](Napi::Env env) { return AttestResult(env, *attest, *signature); });
}

// certify(object, signer, qualifyingData, scheme): the signer attests that `object` is loaded in
// this TPM (used to bind the device signing key to the AK).
Napi::Value Context::Certify(const Napi::CallbackInfo& info) {
  uint32_t object = 0, signer = 0;
  if (!GetHandle(info, 0, &object) || !GetHandle(info, 1, &signer)) REJECT("certify", "expected (object, signer)");
  auto qualifying = ArgTpm2b<TPM2B_DATA>(info, 2);
  auto scheme = ArgStruct(info, 3, Tss2_MU_TPMT_SIG_SCHEME_Unmarshal);
  if (!qualifying || !scheme) REJECT("certify", "qualifyingData or scheme is invalid");
  auto attest = std::make_shared<EsysPtr<TPM2B_ATTEST>>();
  auto signature = std::make_shared<EsysPtr<TPMT_SIGNATURE>>();
  return TpmWorker::Run(info, this, "certify",
    [=](ESYS_CONTEXT* ctx) {
      TPM2B_ATTEST* certified = nullptr;
      TPMT_SIGNATURE* sig = nullptr;
      TSS2_RC rc = Esys_Certify(ctx, object, signer, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                qualifying.get(), scheme.get(), &certified, &sig);
      attest->reset(certified);
      signature->reset(sig);
      return rc;
    },
    [=](Napi::Env env) { return AttestResult(env, *attest, *signature); });
}

// activateCredential(activate, key, keySession, credentialBlob: TPM2B_ID_OBJECT,
//   secret: TPM2B_ENCRYPTED_SECRET, saltKey): bytes. `key` (the EK) is authorised by `keySession`,
// a policy session that has satisfied the EK policy (PolicySecret on the endorsement hierarchy).
// The recovered credential comes back encrypted (TPMA_SESSION_ENCRYPT) under a third session
// salted with `saltKey`, the loaded storage primary.
Napi::Value Context::ActivateCredential(const Napi::CallbackInfo& info) {
  uint32_t activate = 0, key = 0, session = 0, saltKey = 0;
  if (!GetHandle(info, 0, &activate) || !GetHandle(info, 1, &key) || !GetHandle(info, 2, &session) || !GetHandle(info, 5, &saltKey)) {
    REJECT("activateCredential", "expected (activate, key, keySession, credentialBlob, secret, saltKey)");
  }
  auto blob = ArgStruct(info, 3, Tss2_MU_TPM2B_ID_OBJECT_Unmarshal);
  auto secret = ArgStruct(info, 4, Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal);
  if (!blob || !secret) REJECT("activateCredential", "credentialBlob or secret does not unmarshal");
  auto certInfo = std::make_shared<EsysPtr<TPM2B_DIGEST>>();
  return TpmWorker::Run(info, this, "activateCredential",
    [=](ESYS_CONTEXT* ctx) {
      return WithEncryptionSession(ctx, saltKey, TPMA_SESSION_ENCRYPT, [&](ESYS_TR encryption) {
        TPM2B_DIGEST* out = nullptr;
        TSS2_RC rc = Esys_ActivateCredential(ctx, activate, key, ESYS_TR_PASSWORD, session, encryption,
                                             blob.get(), secret.get(), &out);
        certInfo->reset(out);
        return rc;
      });
    },
    [=](Napi::Env env) -> Napi::Value {
      Napi::Buffer<uint8_t> result = ToBuffer(env, (*certInfo)->buffer, (*certInfo)->size);
      std::memset((*certInfo)->buffer, 0, sizeof((*certInfo)->buffer));
      return result;
    });
}

}  // namespace fleet
