// An advisory lock on an open file, without waiting; see file_lock.cc.
#pragma once

#include <napi.h>

namespace fleet {

Napi::Value FlockNonBlocking(const Napi::CallbackInfo& info);

}  // namespace fleet
