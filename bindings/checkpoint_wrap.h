// What checkpoint_wrap.cc offers other binding code besides its exports.
#pragma once
#include <napi.h>

#include <string>

#include "checkpoint/checkpoint.h"

namespace skipdit::bindings {

// The optional state-dict key argument info[i]: "" when absent, undefined or null, else a string (or an
// InvalidArgument).
std::string checkpoint_key_arg(const Napi::CallbackInfo& info, size_t i);

// The object inspectCheckpoint resolves to (format, tensors, metadata, torch picks and extras) for a checkpoint
// already opened, built on the calling (JS) thread.
Napi::Object describe_opened_checkpoint(Napi::Env env, const Checkpoint& c);

}  // namespace skipdit::bindings
