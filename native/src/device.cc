// Commands on the device itself: startup, getRandom, getCapability, pcrRead, pcrExtend, readClock.
// Each method checks its arguments on the main thread (rejecting with ERR_TPM_ARGUMENT), runs the
// ESYS call in a TpmWorker, and returns the results marshalled in TPM wire format.
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
