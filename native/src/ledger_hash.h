// Batch hashing for the ledger's append path; see ledger_hash.cc.
#pragma once

#include <napi.h>

namespace fleet {

Napi::Value HashEntries(const Napi::CallbackInfo& info);
Napi::Value HashPairs(const Napi::CallbackInfo& info);

}  // namespace fleet
