// A restricted unpickler for the pickles torch.save writes. It never imports or calls anything: GLOBAL
// pushes a name, and REDUCE / NEWOBJ / BUILD are interpreted only for an allow-list of tensor-container
// callables (tensor and parameter rebuilders, OrderedDict, set/frozenset, torch.Size) and one inert class
// (argparse.Namespace, kept as plain attributes). Any other callable is refused with a Checkpoint error
// before anything else happens. Storages come from persistent ids ('storage', <torch.XStorage>, key,
// location, numel) and are resolved by the caller.
//
// Every length and index is checked against the input, values nest at most kMaxDepth deep, the references
// held by containers are bounded by the input's size (also where REDUCE / BUILD copy them), and the memo is
// a map, so a hostile pickle costs memory proportional to its own size and never crashes the process. The
// value graph may share containers (memo) and even form cycles: whatever walks it must visit each value
// once or bound its walk (see the inspection summary in bindings/checkpoint_wrap.cc).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace skipdit {

struct PyValue;
using PyRef = const PyValue*;  // values live in the arena of their PickleData

struct PyValue {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Set, Global, Storage, Tensor, Object };
  Kind kind = Kind::None;
  int depth = 1;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                               // Str / Bytes; Global, Object: "module.name"; Storage: dtype
  std::vector<PyRef> items;                       // Tuple / List / Set
  std::vector<std::pair<PyRef, PyRef>> entries;   // Dict; Object: attributes
  // Storage
  std::string storage_key;
  int64_t storage_numel = 0;
  // Tensor: a view of a storage
  PyRef storage;
  int64_t storage_offset = 0;
  std::vector<int64_t> shape, stride;

  // Dict/Object lookup by string key (nullptr when absent).
  const PyValue* get(const std::string& key) const;
  const char* kind_name() const;
};

constexpr int kMaxPickleDepth = 200;

// The unpickled object graph. Values reference each other by raw pointer and are all owned by the arena, so
// shared and even cyclic structures free without recursion or leaks.
struct PickleData {
  std::vector<std::unique_ptr<PyValue>> arena;
  PyRef root = nullptr;
};

// Throws Error(Checkpoint) with the byte offset and the reason.
PickleData unpickle(const unsigned char* data, uint64_t size, const std::string& what);

}  // namespace skipdit
