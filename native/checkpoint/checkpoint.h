// Opening any supported weights file: safetensors, or a torch.save zip archive (state dict or training
// dict). The format is recognised from the bytes, not the file name; the formats skipdit does not read
// (legacy torch.save pickles and tar archives, plain pickles, anything else) are named in the error.
#pragma once
#include <map>
#include <set>
#include <memory>
#include <string>

#include "checkpoint/torch_checkpoint.h"
#include "model/weights.h"

namespace skipdit {

struct Checkpoint {
  enum class Format { Safetensors, TorchZip };
  Format format = Format::Safetensors;
  std::string path;
  std::shared_ptr<MappedFile> file;  // the mapping all tensors view
  std::unique_ptr<WeightSource> source;
  const TorchCheckpoint* torch = nullptr;          // set for TorchZip
  const SafetensorsSource* safetensors = nullptr;  // set for Safetensors

  const char* format_name() const { return format == Format::Safetensors ? "safetensors" : "torch-zip"; }
  // The stored dtype name of a tensor ("F32", "BF16", ...).
  std::string dtype(const std::string& name) const;
};

// `key` selects the state dict of a training checkpoint ("" = ema, then model, ...); safetensors files ignore
// it unless it is set to something other than "" (then it is an error: they hold one state dict).
Checkpoint open_checkpoint(std::shared_ptr<MappedFile> file, const std::string& path, const std::string& key);
Checkpoint open_checkpoint_file(const std::string& path, const std::string& key);

// Streams every tensor of `source` into a safetensors file (float tensors keep F32/F16/BF16, strided or
// float64 ones become F32), with `metadata`. Returns the bytes written. The data goes to a temporary file
// next to `path`, renamed over it only once complete: a failed convert leaves no partial file and never
// touches an existing one. Refuses (InvalidArgument) an output that is the checkpoint's own file (under
// any name: writing it would truncate the pages the tensors are read from) or not a regular file.
// `bf16_names`: these float tensors are stored BF16, rounded to nearest even as a bfloat16 load rounds
// float32 linear weights (so that loading either file in bfloat16 gives the same bits); others keep their dtype.
uint64_t write_safetensors(const std::string& path, const Checkpoint& checkpoint,
                           const std::map<std::string, std::string>& metadata, const std::set<std::string>& bf16_names = {});

}  // namespace skipdit
