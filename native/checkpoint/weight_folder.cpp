#include "checkpoint/weight_folder.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "core/json.h"

namespace skipdit {

namespace {

const char* const kSafetensorsFile = "model.safetensors";
const char* const kSafetensorsIndex = "model.safetensors.index.json";
const char* const kTorchFile = "pytorch_model.bin";
const char* const kTorchIndex = "pytorch_model.bin.index.json";

uint64_t element_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  return 1;
}

std::string quote(const std::string& s) {
  // Names come from files: show them bounded and without control characters.
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 200; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string real_path(const std::string& path) {
  char* r = ::realpath(path.c_str(), nullptr);
  if (!r) return "";
  std::string out(r);
  std::free(r);
  return out;
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Why `name` (from an index's weight_map) is not a bare file name of the folder, or "" when it is.
std::string bad_file_name(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > 255) return "is longer than 255 bytes";
  if (name == "." || name == "..") return "is not a file name";
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos)
    return "is a path, not a file name of the folder (the index may only name files next to it)";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "holds a control character";
  return "";
}

class Opener {
 public:
  Opener(const WeightFolderSpec& spec, const std::string& dir) : spec_(spec), dir_(dir) {
    // A huggingface_hub cache snapshot <repo>/snapshots/<rev>/ links its files, in sub-folders too
    // (<rev>/text_encoder/), into <repo>/blobs/.
    for (std::string d = dir_; d != "/" && d != "."; d = parent_of(d)) {
      const std::string parent = parent_of(d);
      if (base_of(parent) == "snapshots") {
        blobs_ = real_path(parent_of(parent) + "/blobs");
        break;
      }
    }
  }

  [[noreturn]] void bad(const std::string& what) const { fail(ErrorKind::Checkpoint, "model folder '" + dir_ + "': " + what); }

  // Fills path / present / symlink / bytes of `f`; a present file is checked to resolve inside the folder.
  void resolve(WeightFolder::File& f) const {
    const std::string why = bad_file_name(f.name);
    if (!why.empty()) bad("file name " + quote(f.name) + " " + why);
    const std::string path = dir_ + "/" + f.name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return;  // absent
      bad("cannot read " + quote(f.name) + ": " + std::strerror(errno));
    }
    f.present = true;
    f.symlink = S_ISLNK(st.st_mode);
    const std::string real = real_path(path);
    if (real.empty()) {
      if (f.symlink) bad(quote(f.name) + " is a symbolic link to a missing file (" + std::strerror(errno) + ")");
      bad("cannot resolve " + quote(f.name) + ": " + std::strerror(errno));
    }
    const bool inside = starts_with(real, dir_ + "/") || (!blobs_.empty() && starts_with(real, blobs_ + "/"));
    if (!inside && !spec_.allow_external_links)
      bad(quote(f.name) + " is a symbolic link to '" + real + "', outside the folder; links are followed only within "
          "the folder (or into the blobs/ folder of a huggingface_hub cache snapshot): copy the file into the folder, or "
          "allow external links");
    struct stat target {};
    if (::stat(real.c_str(), &target) != 0) bad("cannot read " + quote(f.name) + ": " + std::strerror(errno));
    if (!S_ISREG(target.st_mode)) bad(quote(f.name) + " is " + file_type_name(target.st_mode) + ", not a regular file");
    f.path = real;
    f.bytes = static_cast<uint64_t>(target.st_size);
  }

  // Opens a present, resolved file with its reader; `torch` says which format the layout implies.
  Checkpoint open(const WeightFolder::File& f, bool torch) const {
    Checkpoint c = open_checkpoint(MappedFile::open(f.path), f.path, "");
    const bool is_torch = c.format == Checkpoint::Format::TorchZip;
    if (is_torch != torch)
      bad(quote(f.name) + " is a " + (is_torch ? "torch.save archive" : "safetensors file") + ", but " +
          (torch ? "pytorch_model*.bin weights must be torch.save archives" : "model*.safetensors weights must be safetensors files"));
    return c;
  }

  bool ignored(const std::string& name) const {
    for (auto& p : spec_.ignore_prefixes)
      if (starts_with(name, p)) return true;
    return false;
  }

 private:
  const WeightFolderSpec& spec_;
  std::string dir_, blobs_;
};

void check_spec(const WeightFolderSpec& spec) {
  if (spec.dir.empty()) fail(ErrorKind::InvalidArgument, "Expected a folder path for dir but received an empty string");
  std::set<std::string> seen;
  for (auto& group : spec.aliases) {
    if (group.empty()) fail(ErrorKind::InvalidArgument, "Expected non-empty groups of tensor names for aliases but received an empty group");
    for (auto& n : group) {
      if (n.empty()) fail(ErrorKind::InvalidArgument, "Expected non-empty tensor names for aliases but received an empty name");
      if (!seen.insert(n).second)
        fail(ErrorKind::InvalidArgument, "Expected each name at most once in aliases but received " + quote(n) + " twice");
    }
  }
  for (auto& p : spec.ignore_prefixes)
    if (p.empty()) fail(ErrorKind::InvalidArgument, "Expected non-empty prefixes for ignorePrefixes but received an empty string (it would ignore every tensor)");
}

// The folder's weight-looking files, for the error of a folder without any weights we read.
std::string weight_like_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return "";
  std::vector<std::string> found;
  size_t seen = 0;
  while (dirent* e = ::readdir(d)) {
    if (++seen > 10000) break;
    const std::string n = e->d_name;
    for (const char* ext : {".safetensors", ".bin", ".h5", ".msgpack", ".ckpt", ".pt", ".pth", ".gguf", ".onnx", ".index.json"})
      if (n.size() > std::strlen(ext) && n.compare(n.size() - std::strlen(ext), std::string::npos, ext) == 0) {
        found.push_back(n);
        break;
      }
  }
  ::closedir(d);
  std::sort(found.begin(), found.end());
  std::string out;
  for (size_t i = 0; i < found.size() && i < 12; ++i) out += (i ? ", " : "") + quote(found[i]);
  if (found.size() > 12) out += ", ... (" + std::to_string(found.size()) + " in all)";
  return out;
}

}  // namespace

const char* WeightFolder::layout_name() const {
  switch (layout_) {
    case Layout::Safetensors: return "safetensors";
    case Layout::SafetensorsIndex: return "safetensors-index";
    case Layout::TorchBin: return "torch-bin";
    case Layout::TorchBinIndex: return "torch-bin-index";
  }
  return "";
}

const char* WeightFolder::format_name() const {
  return layout_ == Layout::Safetensors || layout_ == Layout::SafetensorsIndex ? "safetensors" : "torch-zip";
}

std::string WeightFolder::describe() const {
  if (index_file_.empty()) return "'" + dir_ + "/" + files_[0].name + "'";
  return "folder '" + dir_ + "' (" + index_file_ + ", " + std::to_string(files_.size()) + " files)";
}

std::vector<std::string> WeightFolder::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (auto& e : entries_) out.push_back(e.name);
  return out;
}

const WeightFolder::Entry& WeightFolder::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(ErrorKind::Checkpoint, "tensor " + quote(name) + " is not in " + describe());
  return entries_[it->second];
}

uint64_t WeightFolder::total_bytes() const {
  uint64_t n = 0;
  for (auto& e : entries_) n += e.bytes;
  return n;
}

Tensor WeightFolder::get(const std::string& name) const {
  const Entry& e = entry(name);
  const size_t at = static_cast<size_t>(&e - entries_.data());
  const WeightSource& src = *opened_[e.file].source;
  Tensor t = src.get(e.stored);
  if (!e.duplicates.empty() && !verified_[at]) {
    // Tied-weight duplicates must hold the same values: compared once, without reading when they view the
    // same bytes (one torch storage); the duplicate's pages are dropped again after the comparison.
    for (auto& dup : e.duplicates) {
      auto d = index_of_stored_.find(dup);
      const WeightSource& dsrc = *opened_[d->second].source;
      Tensor u = dsrc.get(dup);
      const bool same = u.dtype() == t.dtype() && u.shape() == t.shape() &&
                        (u.raw() == t.raw() || std::memcmp(u.raw(), t.raw(), t.nbytes()) == 0);
      if (u.raw() != t.raw()) dsrc.release(dup);
      if (!same)
        fail(ErrorKind::Checkpoint, describe() + ": tensors " + quote(e.stored) + " (" + files_[e.file].name + ") and " + quote(dup) +
                                        " (" + files_[d->second].name + ") are aliases of " + quote(e.name) + " but hold different values");
    }
    verified_[at] = 1;
  }
  return t;
}

void WeightFolder::release(const std::string& name) const {
  const Entry& e = entry(name);
  opened_[e.file].source->release(e.stored);
}

std::unique_ptr<WeightFolder> WeightFolder::open(const WeightFolderSpec& spec) {
  check_spec(spec);
  auto wf = std::unique_ptr<WeightFolder>(new WeightFolder());
  {
    const std::string real = real_path(spec.dir);
    if (real.empty()) fail(ErrorKind::Checkpoint, "cannot open model folder '" + spec.dir + "': " + std::strerror(errno));
    struct stat st {};
    if (::stat(real.c_str(), &st) != 0) fail(ErrorKind::Checkpoint, "cannot open model folder '" + spec.dir + "': " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode))
      fail(ErrorKind::Checkpoint, "'" + spec.dir + "' is " + file_type_name(st.st_mode) + ", not a model folder");
    wf->dir_ = real;
  }
  Opener opener(spec, wf->dir_);

  // The layout: transformers' order.
  struct Candidate {
    const char* name;
    Layout layout;
  };
  const Candidate candidates[] = {{kSafetensorsFile, Layout::Safetensors},
                                  {kSafetensorsIndex, Layout::SafetensorsIndex},
                                  {kTorchFile, Layout::TorchBin},
                                  {kTorchIndex, Layout::TorchBinIndex}};
  File first;
  bool found = false;
  for (auto& c : candidates) {
    File f;
    f.name = c.name;
    opener.resolve(f);
    if (f.present) {
      first = f;
      wf->layout_ = c.layout;
      found = true;
      break;
    }
  }
  if (!found) {
    const std::string others = weight_like_files(wf->dir_);
    opener.bad(std::string("no weights: expected ") + kSafetensorsFile + ", " + kSafetensorsIndex + ", " + kTorchFile + " or " + kTorchIndex +
               (others.empty() ? std::string(" (the folder has no weight-like files)") : "; the folder has " + others) +
               " (skipdit reads safetensors and PyTorch weights, not TensorFlow, Flax or GGUF ones)");
  }
  const bool torch = wf->layout_ == Layout::TorchBin || wf->layout_ == Layout::TorchBinIndex;

  // name -> file index, from the index or from the single file.
  std::map<std::string, size_t> mapped;
  if (wf->layout_ == Layout::Safetensors || wf->layout_ == Layout::TorchBin) {
    wf->files_.push_back(first);
    wf->opened_.push_back(opener.open(first, torch));
    wf->files_[0].opened = true;
    wf->files_[0].tensors = wf->opened_[0].source->names().size();
    if (!torch)
      for (auto& [k, v] : wf->opened_[0].safetensors->file().metadata()) wf->metadata_[k] = v;
  } else {
    wf->index_file_ = first.name;
    if (first.bytes > kMaxWeightIndexBytes)
      opener.bad(first.name + " is " + std::to_string(first.bytes) + " bytes, more than the " + std::to_string(kMaxWeightIndexBytes >> 20) +
                 " MiB an index may have");
    std::shared_ptr<MappedFile> text = MappedFile::open(first.path);
    if (text->bytes() > kMaxWeightIndexBytes) opener.bad(first.name + " grew past the size an index may have");
    JsonValue root;
    try {
      root = parse_json(static_cast<const char*>(text->data()), text->bytes());
    } catch (const std::exception& e) {
      opener.bad(first.name + " is not valid JSON: " + e.what());
    }
    if (root.type != JsonValue::Type::Object) opener.bad(first.name + " is not a JSON object");
    const JsonValue* map = root.find("weight_map");
    if (!map || map->type != JsonValue::Type::Object)
      opener.bad(first.name + " has no \"weight_map\" object ({tensor name: file name})");
    if (map->object.empty()) opener.bad(first.name + " has an empty \"weight_map\"");
    if (const JsonValue* meta = root.find("metadata")) {
      if (meta->type != JsonValue::Type::Object) opener.bad(first.name + ": \"metadata\" is not an object");
      for (auto& [k, v] : meta->object) {
        if (v.type == JsonValue::Type::String) wf->metadata_[k] = v.string;
        else if (v.type == JsonValue::Type::Number) wf->metadata_[k] = v.is_integer && v.number >= 0 && v.number < 9.0e15
                                                                     ? std::to_string(static_cast<uint64_t>(v.number))
                                                                     : std::to_string(v.number);
      }
    }
    std::map<std::string, size_t> file_at;
    for (auto& [name, value] : map->object) {
      if (value.type != JsonValue::Type::String)
        opener.bad(first.name + ": the weight_map value of " + quote(name) + " is not a file name string");
      const std::string why = bad_file_name(value.string);
      if (!why.empty()) opener.bad(first.name + " maps " + quote(name) + " to " + quote(value.string) + ", which " + why);
      auto it = file_at.find(value.string);
      if (it == file_at.end()) {
        if (file_at.size() >= kMaxWeightFolderFiles)
          opener.bad(first.name + " names more than " + std::to_string(kMaxWeightFolderFiles) + " files");
        it = file_at.emplace(value.string, 0).first;
      }
      mapped[name] = 0;  // file indices assigned below, once the files are sorted
    }
    // Files in name order (model-00001-of-... first), then each tensor's file.
    for (auto& [fname, index] : file_at) {
      index = wf->files_.size();
      File f;
      f.name = fname;
      wf->files_.push_back(f);
    }
    for (auto& [name, value] : map->object) {
      const size_t fi = file_at.at(value.string);
      mapped[name] = fi;
      wf->files_[fi].tensors++;
    }
    // Open the files holding a tensor the caller needs; the others are never touched (may even be absent).
    std::vector<std::string> needed_by(wf->files_.size());
    for (auto& [name, fi] : mapped)
      if (!opener.ignored(name) && needed_by[fi].empty()) needed_by[fi] = name;
    wf->opened_.resize(wf->files_.size());
    for (size_t fi = 0; fi < wf->files_.size(); ++fi) {
      File& f = wf->files_[fi];
      opener.resolve(f);
      if (needed_by[fi].empty()) continue;
      if (!f.present)
        opener.bad("shard " + quote(f.name) + " is missing (" + first.name + " maps " + quote(needed_by[fi]) + " and " +
                   std::to_string(f.tensors - 1) + " more tensors to it)");
      wf->opened_[fi] = opener.open(f, torch);
      f.opened = true;
      f.tensors = 0;  // counted from the file below
    }
    // Every tensor of an opened shard is where the index says, once.
    for (size_t fi = 0; fi < wf->files_.size(); ++fi) {
      if (!wf->files_[fi].opened) continue;
      for (auto& name : wf->opened_[fi].source->names()) {
        wf->files_[fi].tensors++;
        auto it = mapped.find(name);
        if (it == mapped.end()) opener.bad("shard " + quote(wf->files_[fi].name) + " holds " + quote(name) + ", which " + first.name + " does not list");
        if (it->second == fi || opener.ignored(name)) continue;
        const size_t other = it->second;
        if (wf->files_[other].opened && wf->opened_[other].source->has(name))
          opener.bad("tensor " + quote(name) + " is in two shards, " + quote(wf->files_[other].name) + " and " + quote(wf->files_[fi].name));
        opener.bad(first.name + " maps " + quote(name) + " to " + quote(wf->files_[other].name) + ", but it is in " + quote(wf->files_[fi].name));
      }
    }
    for (auto& [name, fi] : mapped)
      if (!opener.ignored(name) && !wf->opened_[fi].source->has(name))
        opener.bad(first.name + " maps " + quote(name) + " to " + quote(wf->files_[fi].name) + ", which does not hold it");
  }

  // The stored tensors, in file order: ignored ones dropped, alias groups folded into their first name.
  struct Stored {
    std::string name;
    size_t file;
  };
  std::vector<Stored> stored;
  for (auto& [name, fi] : mapped)
    if (!wf->files_[fi].opened) wf->ignored_.push_back(name);  // only ignored tensors are in unopened shards
  for (size_t fi = 0; fi < wf->files_.size(); ++fi) {
    if (!wf->files_[fi].opened) continue;
    const Checkpoint& c = wf->opened_[fi];
    for (auto& name : c.source->names()) {
      if (opener.ignored(name)) {
        wf->ignored_.push_back(name);
        wf->ignored_bytes_ += element_bytes(c.dtype(name)) * static_cast<uint64_t>(shape_numel(c.source->shape(name)));
        continue;
      }
      stored.push_back({name, fi});
    }
  }
  std::sort(wf->ignored_.begin(), wf->ignored_.end());
  wf->ignored_.erase(std::unique(wf->ignored_.begin(), wf->ignored_.end()), wf->ignored_.end());
  std::map<std::string, size_t> stored_at;  // name -> index into `stored`
  for (size_t i = 0; i < stored.size(); ++i) stored_at[stored[i].name] = i;
  std::map<std::string, size_t> alias_group;  // stored name -> group
  for (size_t g = 0; g < spec.aliases.size(); ++g)
    for (auto& n : spec.aliases[g]) alias_group[n] = g;
  std::vector<char> group_done(spec.aliases.size(), 0);

  auto make_entry = [&](const std::string& exposed, const Stored& s) {
    Entry e;
    e.name = exposed;
    e.stored = s.name;
    e.file = s.file;
    const Checkpoint& c = wf->opened_[s.file];
    e.dtype = c.dtype(s.name);
    e.shape = c.source->shape(s.name);
    e.bytes = element_bytes(e.dtype) * static_cast<uint64_t>(shape_numel(e.shape));
    return e;
  };
  for (auto& s : stored) {
    auto g = alias_group.find(s.name);
    if (g == alias_group.end()) {
      wf->index_[s.name] = wf->entries_.size();
      wf->entries_.push_back(make_entry(s.name, s));
      wf->files_[s.file].used++;
      continue;
    }
    if (group_done[g->second]) continue;
    group_done[g->second] = 1;
    const auto& group = spec.aliases[g->second];
    const Stored* source = nullptr;
    std::vector<const Stored*> dups;
    for (auto& n : group) {
      auto it = stored_at.find(n);
      if (it == stored_at.end()) continue;
      if (!source) source = &stored[it->second];
      else dups.push_back(&stored[it->second]);
    }
    Entry e = make_entry(group[0], *source);
    for (const Stored* d : dups) {
      const Entry other = make_entry(d->name, *d);
      if (other.dtype != e.dtype || other.shape != e.shape)
        opener.bad("tensors " + quote(e.stored) + " (" + e.dtype + " " + shape_str(e.shape) + ", in " + quote(wf->files_[e.file].name) + ") and " +
                   quote(d->name) + " (" + other.dtype + " " + shape_str(other.shape) + ", in " + quote(wf->files_[d->file].name) +
                   ") are aliases of " + quote(group[0]) + " but differ in dtype or shape");
      e.duplicates.push_back(d->name);
      wf->index_of_stored_[d->name] = d->file;
    }
    wf->index_[e.name] = wf->entries_.size();
    wf->files_[e.file].used++;
    wf->entries_.push_back(std::move(e));
  }
  wf->verified_ = std::unique_ptr<std::atomic<char>[]>(new std::atomic<char>[wf->entries_.size() + 1]);
  for (size_t i = 0; i <= wf->entries_.size(); ++i) wf->verified_[i] = 0;
  return wf;
}

std::unique_ptr<WeightFolder> open_weight_folder(const WeightFolderSpec& spec) { return WeightFolder::open(spec); }

}  // namespace skipdit
