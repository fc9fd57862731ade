{
  "targets": [
    {
      "target_name": "fleet_tpm",
      "sources": ["src/addon.cc", "src/context.cc", "src/device.cc", "src/objects.cc", "src/nv.cc", "src/signing.cc", "src/policy.cc", "src/ledger_hash.cc", "src/p256_verify.cc", "src/peer_credentials.cc", "src/file_lock.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-ltss2-esys", "-ltss2-tctildr", "-ltss2-rc", "-ltss2-mu"]
    }
  ]
}
