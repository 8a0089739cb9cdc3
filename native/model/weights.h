// Binding checkpoint tensors to the model by their official state_dict names.
//
// A WeightSource lists named tensors (a safetensors file today, a .pt archive later). WeightBinder takes
// each expected name with its expected shape, uploads it once to the backend as float32, and remembers
// every problem; finish() then throws one Checkpoint error listing all missing, misshaped and unexpected
// tensors, so a wrong file is diagnosed in one go.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/abort.h"
#include "core/progress.h"
#include "backend/backend.h"
#include "core/safetensors.h"

namespace skipdit {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::string describe() const = 0;
  virtual std::vector<std::string> names() const = 0;
  virtual bool has(const std::string& name) const = 0;
  virtual Shape shape(const std::string& name) const = 0;
  virtual Tensor get(const std::string& name) const = 0;  // host view, F32/F16/BF16
  // The caller has its own copy of `name`: the source may drop the file pages behind it (lean loading).
  virtual void release(const std::string& name) const {}
};

class SafetensorsSource final : public WeightSource {
 public:
  explicit SafetensorsSource(SafetensorsFile file) : file_(std::move(file)) {}
  std::string describe() const override { return "'" + file_.path() + "'"; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return file_.find(name) != nullptr; }
  Shape shape(const std::string& name) const override { return file_.find(name)->shape; }
  Tensor get(const std::string& name) const override { return file_.tensor(name); }
  void release(const std::string& name) const override { file_.release(name); }
  const SafetensorsFile& file() const { return file_; }

 private:
  SafetensorsFile file_;
};

class WeightBinder {
 public:
  // hooks.abort is checked before each tensor (a load can be stopped); hooks.progress is called after each one
  // with (tensors taken, tensors in the source): a source that matches the model is taken whole, so the last
  // call of a load that succeeds has done == total.
  WeightBinder(const WeightSource& source, Backend& backend, const LoadHooks& hooks = {});

  // The tensor `name` with exactly `shape`, as a backend float32 tensor (undefined if it had a problem).
  Tensor take(const std::string& name, const Shape& shape);
  // Throws Error(Checkpoint) if any take() failed or the source has tensors nobody took.
  void finish();

 private:
  const WeightSource& source_;
  Backend& backend_;
  LoadHooks hooks_;
  int64_t total_ = 0, done_ = 0;
  std::set<std::string> taken_;
  std::vector<std::string> missing_, misshaped_;

  Tensor take_one(const std::string& name, const Shape& shape);
};

}  // namespace skipdit
