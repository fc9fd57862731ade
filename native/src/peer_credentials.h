// The credentials of the process at the other end of a Unix socket; see peer_credentials.cc.
#pragma once

#include <napi.h>

namespace fleet {

Napi::Value PeerCredentials(const Napi::CallbackInfo& info);

}  // namespace fleet
