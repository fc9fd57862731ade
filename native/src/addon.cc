// N-API binding of tpm2-tss ESAPI. See context.h for the threading model and marshal.h for the
// byte-buffer boundary. Only src/attest/tpm/native.ts imports this module. It also carries the
// ledger's batch hashing (ledger_hash.h), which the agent already loads and measures with it,
// and trimHeap and releaseExecutablePages, which hand memory the process holds but does not use
// back to the kernel.
#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "context.h"
#include "ledger_hash.h"

namespace {

// glibc keeps memory freed by malloc in its arenas (one per thread that allocates: the libuv and
// V8 worker threads too) for reuse; malloc_trim(0) returns the free pages of every arena. Returns
// whether any memory was released; false where malloc_trim does not exist.
Napi::Value TrimHeap(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// Unmaps the resident pages of the process's own executable (Node) that are mapped read-only and
// hold no private copies: its code and read-only data. They stay in the page cache; a page used
// again is mapped back from it on first touch (a minor fault). Writable mappings, mappings with
// private (copy-on-write) pages, such as the relocated read-only data, and locked ones are left
// alone: the kernel would drop what was written there. The executable is mapped at exec and not
// relocated after, so no mapping of it changes under this walk; only a breakpoint written into
// its code (a debugger, a uprobe) between the reading of a mapping and its release would be lost.
// Returns the bytes that were resident in the mappings released; 0 where /proc is missing.
Napi::Value ReleaseExecutablePages(const Napi::CallbackInfo& info) {
  double released = 0;
#ifdef __linux__
  char exe[4096];
  ssize_t exe_length = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  FILE* smaps = exe_length > 0 ? std::fopen("/proc/self/smaps", "re") : nullptr;
  if (smaps == nullptr) return Napi::Number::New(info.Env(), 0);
  exe[exe_length] = '\0';

  struct Mapping {
    unsigned long start = 0, end = 0;
    bool candidate = false;
    long rss_kb = 0, anonymous_kb = -1, locked_kb = -1;
  } current;
  auto release = [&]() {
    // Both fields must have been read: a kernel that does not report them leaves the mapping alone.
    if (current.candidate && current.anonymous_kb == 0 && current.locked_kb == 0 && current.rss_kb > 0 &&
        madvise(reinterpret_cast<void*>(current.start), current.end - current.start, MADV_DONTNEED) == 0) {
      released += static_cast<double>(current.rss_kb) * 1024;
    }
    current = Mapping();
  };
  char* line = nullptr;
  size_t capacity = 0;
  while (getline(&line, &capacity, smaps) > 0) {
    unsigned long start, end;
    char perms[5];
    int path_at = 0;
    // A mapping's header: "start-end perms offset dev inode [path]"; its fields ("Rss: 12 kB") follow.
    if (std::sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, perms, &path_at) == 3 && path_at > 0) {
      release();
      std::string path(line + path_at);
      while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
      current.start = start;
      current.end = end;
      current.candidate = path == exe && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p';
    } else if (std::strncmp(line, "Rss:", 4) == 0) {
      current.rss_kb = std::strtol(line + 4, nullptr, 10);
    } else if (std::strncmp(line, "Anonymous:", 10) == 0) {
      current.anonymous_kb = std::strtol(line + 10, nullptr, 10);
    } else if (std::strncmp(line, "Locked:", 7) == 0) {
      current.locked_kb = std::strtol(line + 7, nullptr, 10);
    }
  }
  release();
  std::free(line);
  std::fclose(smaps);
#endif
  return Napi::Number::New(info.Env(), released);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Context", fleet::Context::Define(env));
  exports.Set("hashEntries", Napi::Function::New<fleet::HashEntries>(env, "hashEntries"));
  exports.Set("hashPairs", Napi::Function::New<fleet::HashPairs>(env, "hashPairs"));
  exports.Set("trimHeap", Napi::Function::New<TrimHeap>(env, "trimHeap"));
  exports.Set("releaseExecutablePages", Napi::Function::New<ReleaseExecutablePages>(env, "releaseExecutablePages"));
  exports.Set("ESYS_TR_NONE", Napi::Number::New(env, ESYS_TR_NONE));
  exports.Set("ESYS_TR_PASSWORD", Napi::Number::New(env, ESYS_TR_PASSWORD));
  exports.Set("ESYS_TR_RH_OWNER", Napi::Number::New(env, ESYS_TR_RH_OWNER));
  exports.Set("ESYS_TR_RH_NULL", Napi::Number::New(env, ESYS_TR_RH_NULL));
  exports.Set("ESYS_TR_RH_ENDORSEMENT", Napi::Number::New(env, ESYS_TR_RH_ENDORSEMENT));
  exports.Set("ESYS_TR_RH_PLATFORM", Napi::Number::New(env, ESYS_TR_RH_PLATFORM));
  return exports;
}

}  // namespace

NODE_API_MODULE(fleet_tpm, Init)
