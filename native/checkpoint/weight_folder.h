// The weights of a Hugging Face model folder as one WeightSource: what `from_pretrained(dir)` reads.
//
// Layouts, looked for in transformers' order (the first present wins):
//   model.safetensors                 one safetensors file
//   model.safetensors.index.json      {"metadata": {...}, "weight_map": {name: "model-0000i-of-0000n.safetensors"}}
//   pytorch_model.bin                 one torch.save zip archive (the safe reader, nothing executed)
//   pytorch_model.bin.index.json      the same index, naming "pytorch_model-0000i-of-0000n.bin" shards
// Every file is memory-mapped and validated by its reader (core/safetensors.h, checkpoint/torch_checkpoint.h);
// get() returns views into the mappings and release() drops a tensor's file pages once the caller has its
// own copy, so binding a model peaks near the size of the weights, not twice it.
//
// The index.json is parsed here, natively, with the bounded JSON parser of the safetensors headers (core/json.h)
// and a size cap: the C++ entry point below then works from a folder path alone (the text-encoder loaders
// call it on a pool thread without a TypeScript step), and the names it lists are checked right where the
// files are opened.
//
// Files: a name in the index's weight_map must be a bare file name (no '/', '\', '.', '..', NUL or control
// characters, at most 255 bytes): an index can only name files of its own folder. A folder entry may be a
// symlink (huggingface_hub's cache makes every file of `snapshots/<rev>/` a link into `../../blobs/`), but it
// must resolve to a regular file inside the folder, or inside that `blobs/` folder when the folder is a
// snapshot of the cache (or a sub-folder of one); anything else (a link to ~/.ssh/..., /dev/zero, a FIFO) is a Checkpoint error unless
// `allow_external_links` is set. Whatever is opened is only ever parsed by the validating readers.
//
// Consistency (each a Checkpoint error naming the folder, the file and the tensor): bad index JSON or
// structure; an index naming more than kMaxWeightFolderFiles files; a missing shard that holds a tensor the
// caller needs (a shard whose tensors are all ignored is never opened and may be absent); a shard of the
// other format than the index implies; a tensor the index maps to a file that does not hold it; a tensor
// present in two shards; a tensor a shard holds that the index does not list; alias duplicates that differ
// in dtype, shape or bytes.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "model/weights.h"

namespace skipdit {

// Index files larger than this are refused before parsing (real ones are a few KB to ~1 MB).
constexpr uint64_t kMaxWeightIndexBytes = 16u << 20;
// Distinct files an index may name (real checkpoints have at most a few hundred shards).
constexpr size_t kMaxWeightFolderFiles = 4096;

struct WeightFolderSpec {
  // The model folder (it may itself be a symlink).
  std::string dir;
  // Names of one tied tensor, e.g. {"shared.weight", "encoder.embed_tokens.weight"} (T5: a safetensors file
  // written by transformers holds only shared.weight, a pytorch_model.bin both, sharing one storage). The
  // source exposes such a tensor under the group's FIRST name only (names(), has(), shape(), get(), release()
  // take that name; the others are not listed, so a WeightBinder taking the first name reports none of them
  // as unexpected). Its data comes from the first name of the group that the files hold; every other name the
  // files hold must have the same dtype, shape and bytes (compared at the first get(), without reading when
  // they view the same storage). A group none of whose names is present adds nothing (the binder then
  // reports the first name missing). A name may be in one group only.
  std::vector<std::vector<std::string>> aliases;
  // Tensors whose name starts with one of these are dropped before anything else (not listed, never read;
  // index shards holding only such tensors are not even opened): {"decoder.", "lm_head."} keeps the encoder
  // of a T5ForConditionalGeneration checkpoint.
  std::vector<std::string> ignore_prefixes;
  // Follow symlinks that resolve outside the folder (and outside a huggingface_hub cache's blobs/).
  bool allow_external_links = false;
};

class WeightFolder final : public WeightSource {
 public:
  enum class Layout { Safetensors, SafetensorsIndex, TorchBin, TorchBinIndex };

  struct File {
    std::string name;      // as in the folder / the index
    std::string path;      // resolved (realpath) when present
    bool present = false;  // exists (an absent shard is allowed only when all its tensors are ignored)
    bool opened = false;   // mapped and parsed (false for shards holding only ignored tensors)
    bool symlink = false;  // the folder entry is a symbolic link (to `path`)
    uint64_t bytes = 0;    // file size
    size_t tensors = 0;    // tensors it holds (opened files), or that the index maps to it
    size_t used = 0;       // of which the source exposes (not ignored, the alias picked)
  };

  struct Entry {
    std::string name;  // exposed name (an alias group's first name)
    std::string stored;  // name in the file it is read from
    std::vector<std::string> duplicates;  // other names of its alias group present in the files
    size_t file = 0;     // index into files()
    std::string dtype;   // as stored: F32, F16, BF16, F64, I64, ...
    Shape shape;
    uint64_t bytes = 0;  // numel * element size, as stored
  };

  // Throws Error(Checkpoint) (or InvalidArgument for a spec that contradicts itself).
  static std::unique_ptr<WeightFolder> open(const WeightFolderSpec& spec);

  // WeightSource
  std::string describe() const override;
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return index_.count(name) != 0; }
  Shape shape(const std::string& name) const override { return entry(name).shape; }
  Tensor get(const std::string& name) const override;
  void release(const std::string& name) const override;

  // Inspection.
  Layout layout() const { return layout_; }
  const char* layout_name() const;
  const char* format_name() const;  // "safetensors" or "torch-zip"
  const std::string& dir() const { return dir_; }          // resolved folder
  const std::string& index_file() const { return index_file_; }  // "" without an index
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // index metadata (strings and numbers as text) or the safetensors __metadata__
  const std::vector<File>& files() const { return files_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry& entry(const std::string& name) const;
  std::string dtype(const std::string& name) const { return entry(name).dtype; }
  uint64_t total_bytes() const;  // of the exposed tensors, as stored
  const std::vector<std::string>& ignored() const { return ignored_; }  // names dropped by ignore_prefixes
  uint64_t ignored_bytes() const { return ignored_bytes_; }  // of those in opened files

 private:
  WeightFolder() = default;
  std::string dir_, index_file_;
  Layout layout_ = Layout::Safetensors;
  std::map<std::string, std::string> metadata_;
  std::vector<File> files_;
  std::vector<Checkpoint> opened_;  // per file; an empty Checkpoint (no source) when not opened
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
  std::vector<std::string> ignored_;
  uint64_t ignored_bytes_ = 0;
  std::map<std::string, size_t> index_of_stored_;  // alias duplicates: stored name -> file
  std::unique_ptr<std::atomic<char>[]> verified_;  // per entry: its duplicates were compared
};

// The function the model loaders call: the folder's weights as a WeightSource (a WeightFolder, for its
// inspection methods). Cheap: reads the index and the file headers / pickles, no tensor data. Throws
// Error(Checkpoint) naming the folder and the problem. Example (T5 encoder of any T5 checkpoint folder):
//   WeightFolderSpec spec;
//   spec.dir = dir;
//   spec.aliases = {{"shared.weight", "encoder.embed_tokens.weight"}};
//   spec.ignore_prefixes = {"decoder.", "lm_head."};
//   std::unique_ptr<WeightSource> source = open_weight_folder(spec);
//   WeightBinder binder(*source, backend, hooks);  // take("shared.weight", ...), ...; finish()
std::unique_ptr<WeightFolder> open_weight_folder(const WeightFolderSpec& spec);

}  // namespace skipdit
