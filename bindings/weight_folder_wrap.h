// What weight_folder_wrap.cc offers other binding code (the test hooks) besides its export.
#pragma once
#include <napi.h>

#include "checkpoint/weight_folder.h"

namespace skipdit::bindings {

// A WeightFolderSpec from (dir, options?) at info[i], info[i + 1]: options { aliases?: string[][],
// ignorePrefixes?: string[], allowExternalLinks?: boolean }; InvalidArgument for values of the wrong type.
WeightFolderSpec weight_folder_spec_arg(const Napi::CallbackInfo& info, size_t i);

// The object inspectWeights resolves to (NativeWeightFolderInfo in binding.d.ts), built on the JS thread.
Napi::Object describe_weight_folder(Napi::Env env, const WeightFolder& folder);

}  // namespace skipdit::bindings
