// PyTorch checkpoints written by torch.save (zip format): a state dict, or a training dict
// {model, ema, opt, args} from which one state dict is picked ('ema' first, like the official loaders).
// The archive is memory-mapped; contiguous float tensors are views into it, strided or float64 ones are
// converted once. Nothing in the pickle is executed (see pickle.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/pickle.h"
#include "checkpoint/zip_reader.h"
#include "core/safetensors.h"
#include "model/weights.h"

namespace skipdit {

struct TorchTensorRef {
  std::string name;
  std::string dtype;  // F32, F16, BF16, F64, I64, ...
  Shape shape, stride;
  uint64_t byte_offset = 0;  // of element 0 of the view, in the file
  uint64_t span_bytes = 0;   // bytes from byte_offset to the last element, inclusive
  bool contiguous = true;
};

class TorchCheckpoint final : public WeightSource {
 public:
  // key: "" picks 'ema', then 'model', 'state_dict', 'module', then the root when it holds tensors;
  // otherwise the named top-level entry. Throws Error(Checkpoint).
  static std::unique_ptr<TorchCheckpoint> open(std::shared_ptr<MappedFile> file, const std::string& path,
                                               const std::string& key);

  // WeightSource
  std::string describe() const override { return "'" + path_ + "' [" + picked_ + "]"; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return index_.count(name) != 0; }
  Shape shape(const std::string& name) const override { return tensor_ref(name).shape; }
  Tensor get(const std::string& name) const override;
  void release(const std::string& name) const override;

  const std::string& picked() const { return picked_; }
  const std::vector<std::string>& candidates() const { return candidates_; }  // top-level keys holding tensors
  const std::vector<TorchTensorRef>& tensors() const { return tensors_; }
  const std::string& root_folder() const { return root_; }
  const PyValue* root() const { return pickle_.root; }
  std::string dtype(const std::string& name) const { return tensor_ref(name).dtype; }

 private:
  const TorchTensorRef& tensor_ref(const std::string& name) const;

  std::string path_, root_, picked_;
  std::shared_ptr<MappedFile> file_;
  PickleData pickle_;
  std::vector<std::string> candidates_;
  std::vector<TorchTensorRef> tensors_;
  std::map<std::string, size_t> index_;
};

}  // namespace skipdit
