#include "checkpoint/torch_checkpoint.h"

#include <cstring>
#include <unordered_map>

#include "core/dtype_convert.h"

namespace skipdit {

namespace {

size_t element_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16") return 2;
  return 1;  // I8, U8, BOOL
}

[[noreturn]] void bad(const std::string& path, const std::string& msg) {
  fail(ErrorKind::Checkpoint, "checkpoint '" + path + "': " + msg);
}

// Whether a value is a dict whose values include tensors (a state dict). Remembers each dict's answer: a
// pickle can make thousands of top-level keys refer to one huge (memoised) dict, and scanning it once per
// key would take time quadratic in the file's size.
class StateDictTest {
 public:
  bool operator()(const PyValue* v) {
    if (!v || v->kind != PyValue::Kind::Dict) return false;
    auto [it, inserted] = known_.emplace(v, false);
    if (inserted)
      for (auto& e : v->entries)
        if (e.second->kind == PyValue::Kind::Tensor) {
          it->second = true;
          break;
        }
    return it->second;
  }

 private:
  std::unordered_map<const PyValue*, bool> known_;
};

// Views may share a storage (tied weights, q/k/v slices of one buffer), so their bytes may add up to more
// than the file; past this multiple of its size, a file is refused instead of being expanded (a few KB
// viewed thousands of times would otherwise ask a convert or a load for gigabytes).
constexpr uint64_t kMaxViewExpansion = 4;

}  // namespace

std::unique_ptr<TorchCheckpoint> TorchCheckpoint::open(std::shared_ptr<MappedFile> file, const std::string& path,
                                                       const std::string& key) {
  auto ck = std::unique_ptr<TorchCheckpoint>(new TorchCheckpoint());
  ck->path_ = path;
  ck->file_ = std::move(file);
  const auto* data = static_cast<const unsigned char*>(ck->file_->data());
  const uint64_t size = ck->file_->bytes();
  ZipReader zip(data, size, path);

  // The pickle is <root>/data.pkl for any root folder name ('archive', 'model', ...).
  const ZipEntry* pkl = nullptr;
  for (auto& [name, entry] : zip.entries()) {
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      if (pkl) bad(path, "has more than one data.pkl");
      pkl = &entry;
      ck->root_ = name.substr(0, slash);
    }
  }
  if (!pkl) bad(path, "is a zip file without <folder>/data.pkl: not a torch.save checkpoint");
  if (const ZipEntry* order = zip.find(ck->root_ + "/byteorder")) {
    std::string o(reinterpret_cast<const char*>(zip.bytes(*order)), order->size);
    if (o != "little") bad(path, "stores tensors in '" + o + "' byte order; only little-endian is supported");
  }
  ck->pickle_ = unpickle(zip.bytes(*pkl), pkl->size, path);

  // Pick the state dict.
  const PyValue* root = ck->pickle_.root;
  const PyValue* chosen = nullptr;
  StateDictTest holds_tensors;
  if (root->kind == PyValue::Kind::Dict) {
    for (auto& e : root->entries)
      if (e.first->kind == PyValue::Kind::Str && holds_tensors(e.second)) ck->candidates_.push_back(e.first->text);
  }
  if (!key.empty()) {
    if (key == "root") chosen = holds_tensors(root) ? root : nullptr;
    else if (root->kind == PyValue::Kind::Dict) chosen = root->get(key);
    if (!holds_tensors(chosen)) {
      std::string available;
      for (auto& c : ck->candidates_) available += (available.empty() ? "" : ", ") + c;
      if (holds_tensors(root)) available += (available.empty() ? "" : ", ") + std::string("root");
      bad(path, "has no state dict under '" + key + "' (available: " + (available.empty() ? "none" : available) + ")");
    }
    ck->picked_ = key;
  } else {
    for (const char* k : {"ema", "model", "state_dict", "module"}) {
      if (root->kind == PyValue::Kind::Dict && holds_tensors(root->get(k))) {
        chosen = root->get(k);
        ck->picked_ = k;
        break;
      }
    }
    if (!chosen && holds_tensors(root)) {
      chosen = root;
      ck->picked_ = "root";
    }
    if (!chosen) bad(path, "holds no state dict (no dict of tensors at the top level or under ema/model/state_dict)");
  }

  // Tensors of the chosen dict, with every byte they touch checked against their storage entry.
  uint64_t view_bytes = 0;  // of all tensors, as stored
  for (auto& [k, v] : chosen->entries) {
    if (k->kind != PyValue::Kind::Str || v->kind != PyValue::Kind::Tensor) continue;  // non-tensor entries ignored
    const PyValue& st = *v->storage;
    const ZipEntry* entry = zip.find(ck->root_ + "/data/" + st.storage_key);
    if (!entry) bad(path, "tensor '" + k->text + "' refers to missing storage data/" + st.storage_key);
    TorchTensorRef t;
    t.name = k->text;
    t.dtype = st.text;
    const uint64_t esize = element_size(t.dtype);
    if (static_cast<uint64_t>(st.storage_numel) > entry->size / esize)
      bad(path, "storage data/" + st.storage_key + " declares " + std::to_string(st.storage_numel) + " elements but holds " +
                    std::to_string(entry->size) + " bytes");
    if (v->storage_offset < 0) bad(path, "tensor '" + t.name + "' has a negative storage offset");
    // Index of the last element touched, in 128-bit so hostile sizes and strides cannot wrap around.
    unsigned __int128 last128 = static_cast<uint64_t>(v->storage_offset);
    uint64_t numel = 1;
    bool empty = false;
    for (size_t d = 0; d < v->shape.size(); ++d) {
      const int64_t n = v->shape[d], s = v->stride[d];
      if (n < 0 || s < 0 || n > (int64_t(1) << 48) || s > (int64_t(1) << 48)) bad(path, "tensor '" + t.name + "' has an invalid size or stride");
      if (n == 0) empty = true;
      else last128 += static_cast<unsigned __int128>(n - 1) * static_cast<uint64_t>(s);
      numel *= static_cast<uint64_t>(n);
      if (numel > (uint64_t(1) << 48)) bad(path, "tensor '" + t.name + "' declares an absurd number of elements");
    }
    if (!empty && last128 >= static_cast<uint64_t>(st.storage_numel))
      bad(path, "tensor '" + t.name + "' reaches past the end of its storage of " + std::to_string(st.storage_numel) +
                    " elements (offset or strides out of bounds)");
    // A view with more elements than its storage repeats elements (stride 0, overlapping strides: what
    // expand() or as_strided() make); reading it would turn a few stored bytes into arbitrarily many.
    // Parameters and buffers in real checkpoints never are such views, so they are refused.
    if (numel > static_cast<uint64_t>(st.storage_numel))
      bad(path, "tensor '" + t.name + "' views " + std::to_string(numel) + " elements of a storage that holds " +
                    std::to_string(st.storage_numel) + " (overlapping or zero strides); such views are not read");
    view_bytes += numel * esize;  // numel * esize <= the storage entry's size: no overflow
    if (view_bytes > kMaxViewExpansion * size)
      bad(path, "its tensors view " + std::to_string(view_bytes) + "+ bytes, more than " + std::to_string(kMaxViewExpansion) +
                    " times the file's " + std::to_string(size) + " bytes (the same storages viewed over and over); refused");
    const uint64_t last = static_cast<uint64_t>(last128);
    t.shape = v->shape;
    t.stride = v->stride;
    int64_t expect = 1;
    for (size_t d = v->shape.size(); d-- > 0;) {
      if (v->shape[d] != 1 && v->stride[d] != expect) t.contiguous = false;
      expect *= v->shape[d];
    }
    t.byte_offset = entry->data_offset + static_cast<uint64_t>(v->storage_offset) * esize;
    t.span_bytes = empty ? 0 : (last - v->storage_offset + 1) * esize;
    if (ck->index_.count(t.name)) bad(path, "duplicate tensor name '" + t.name + "'");
    ck->index_[t.name] = ck->tensors_.size();
    ck->tensors_.push_back(std::move(t));
  }
  return ck;
}

std::vector<std::string> TorchCheckpoint::names() const {
  std::vector<std::string> out;
  for (auto& t : tensors_) out.push_back(t.name);
  return out;
}

const TorchTensorRef& TorchCheckpoint::tensor_ref(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(ErrorKind::Checkpoint, "tensor '" + name + "' is not in " + describe());
  return tensors_[it->second];
}

Tensor TorchCheckpoint::get(const std::string& name) const {
  const TorchTensorRef& t = tensor_ref(name);
  const bool viewable = t.contiguous && (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16" || t.dtype == "I64");
  if (viewable) {
    const DType dt = t.dtype == "F32" ? DType::F32 : t.dtype == "F16" ? DType::F16 : t.dtype == "BF16" ? DType::BF16 : DType::I64;
    return Tensor(file_, t.byte_offset, dt, t.shape);
  }
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16" && t.dtype != "F64")
    fail(ErrorKind::Checkpoint, "tensor '" + name + "' in " + describe() + " has dtype " + t.dtype + ", not a float type");
  // Strided or float64: gather element by element into a contiguous float32 copy.
  Tensor out = Tensor::host(DType::F32, t.shape);
  float* dst = out.f32();
  const auto* base = static_cast<const unsigned char*>(file_->data()) + t.byte_offset;
  const size_t esize = element_size(t.dtype);
  const int64_t n = out.numel();
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += static_cast<uint64_t>(idx[d]) * t.stride[d];
    const unsigned char* p = base + off * esize;
    if (t.dtype == "F32") std::memcpy(&dst[i], p, 4);
    else if (t.dtype == "F64") {
      double v;
      std::memcpy(&v, p, 8);
      dst[i] = static_cast<float>(v);
    } else {
      uint16_t h;
      std::memcpy(&h, p, 2);
      dst[i] = t.dtype == "BF16" ? bf16_to_f32(h) : f16_to_f32(h);
    }
    for (size_t d = idx.size(); d-- > 0;) {  // next index, row-major
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

void TorchCheckpoint::release(const std::string& name) const {
  const TorchTensorRef& t = tensor_ref(name);
  file_->release(t.byte_offset, t.span_bytes);
}

}  // namespace skipdit
