// flockNonBlocking(fd, exclusive): takes an advisory lock (flock(2)) on an open file without
// waiting: true when taken, false when another open file description holds a conflicting one. The
// kernel drops the lock when the last descriptor of that open file is closed, also when the
// process dies, so a lock never outlives its holder (no stale lock files, no pids to trust).
// Refusals are Errors with a `code`: ERR_NATIVE_ARGUMENT (a TypeError), ERR_FILE_LOCK (a system
// call failed; carries `errno`, a number).
#include <errno.h>
#include <sys/file.h>

#include <climits>
#include <cstring>
#include <string>

#include "file_lock.h"

namespace fleet {

Napi::Value FlockNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsBoolean()) {
    Napi::Error error = Napi::TypeError::New(env, "flockNonBlocking: expected (fd: number, exclusive: boolean)");
    error.Set("code", Napi::String::New(env, "ERR_NATIVE_ARGUMENT"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double number = info[0].As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= INT_MAX && number == static_cast<double>(static_cast<int>(number)))) {
    Napi::Error error = Napi::TypeError::New(env, "flockNonBlocking: fd must be an integer in 0..INT_MAX");
    error.Set("code", Napi::String::New(env, "ERR_NATIVE_ARGUMENT"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int operation = (info[1].As<Napi::Boolean>().Value() ? LOCK_EX : LOCK_SH) | LOCK_NB;
  int result;
  do {
    result = flock(static_cast<int>(number), operation);
  } while (result != 0 && errno == EINTR);
  if (result == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  const int failed = errno;
  Napi::Error error = Napi::Error::New(env, std::string("flock: ") + std::strerror(failed));
  error.Set("code", Napi::String::New(env, "ERR_FILE_LOCK"));
  error.Set("errno", Napi::Number::New(env, failed));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace fleet
