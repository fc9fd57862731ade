// peerCredentials(fd): what the kernel recorded, when the peer connected, about the process at the
// other end of a connected Unix socket (SO_PEERCRED): { pid, uid, gid }. The agent's control
// socket names its callers by this and nothing they say. Synchronous: each step is one system
// call that does not block. It does not touch the TPM and shares nothing with the Context.
//
// Refusals are Errors with a `code` (src/attest/tpm/native.ts turns each into its own class):
//   ERR_NATIVE_ARGUMENT     fd is not an integer in 0..INT_MAX (a TypeError)
//   ERR_NOT_A_SOCKET        fd is open but is not a socket
//   ERR_NOT_A_UNIX_SOCKET   a socket of another family (TCP has no peer credentials)
//   ERR_NO_PEER_PROCESS     no peer process here: a listening or unconnected socket, or a peer
//                           whose pid namespace hides it from ours (the kernel reports pid 0)
//   ERR_PEER_CREDENTIALS    a system call failed; carries `syscall` and `errno` (a number)
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <climits>
#include <cstring>
#include <string>

#include "peer_credentials.h"

namespace fleet {

namespace {

Napi::Value Refuse(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value SystemCallFailed(Napi::Env env, const char* syscall, int number) {
  Napi::Error error = Napi::Error::New(env, std::string(syscall) + ": " + std::strerror(number));
  error.Set("code", Napi::String::New(env, "ERR_PEER_CREDENTIALS"));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.Set("errno", Napi::Number::New(env, number));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool SocketOption(int fd, int option, int* value) {
  socklen_t length = sizeof(*value);
  return getsockopt(fd, SOL_SOCKET, option, value, &length) == 0 && length == sizeof(*value);
}

}  // namespace

Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::Error error = Napi::TypeError::New(env, "peerCredentials: expected (fd: number)");
    error.Set("code", Napi::String::New(env, "ERR_NATIVE_ARGUMENT"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double number = info[0].As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= INT_MAX && number == static_cast<double>(static_cast<int>(number)))) {
    Napi::Error error = Napi::TypeError::New(env, "peerCredentials: fd must be an integer in 0..INT_MAX");
    error.Set("code", Napi::String::New(env, "ERR_NATIVE_ARGUMENT"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = static_cast<int>(number);

  struct stat status;
  if (fstat(fd, &status) != 0) return SystemCallFailed(env, "fstat", errno);
  const std::string name = "fd " + std::to_string(fd);
  if (!S_ISSOCK(status.st_mode)) return Refuse(env, "ERR_NOT_A_SOCKET", name + " is not a socket");
  int domain = 0;
  if (!SocketOption(fd, SO_DOMAIN, &domain)) return SystemCallFailed(env, "getsockopt(SO_DOMAIN)", errno);
  if (domain != AF_UNIX) {
    return Refuse(env, "ERR_NOT_A_UNIX_SOCKET", name + " is not a Unix socket");
  }
  // A listening socket answers SO_PEERCRED with the credentials of whoever called listen(): ours.
  int listening = 0;
  if (!SocketOption(fd, SO_ACCEPTCONN, &listening)) {
    return SystemCallFailed(env, "getsockopt(SO_ACCEPTCONN)", errno);
  }
  if (listening != 0) return Refuse(env, "ERR_NO_PEER_PROCESS", name + " is a listening socket");

  struct ucred credentials;
  socklen_t length = sizeof(credentials);
  std::memset(&credentials, 0, sizeof(credentials));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return SystemCallFailed(env, "getsockopt(SO_PEERCRED)", errno);
  }
  if (length != sizeof(credentials)) return SystemCallFailed(env, "getsockopt(SO_PEERCRED)", EINVAL);
  if (credentials.pid <= 0) {
    return Refuse(env, "ERR_NO_PEER_PROCESS", "the peer of " + name +
                  " has no process id here (not connected, or in a pid namespace hidden from ours)");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, credentials.pid));
  result.Set("uid", Napi::Number::New(env, credentials.uid));
  result.Set("gid", Napi::Number::New(env, credentials.gid));
  return result;
}

}  // namespace fleet
