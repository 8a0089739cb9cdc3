#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/json.h"

namespace skipdit {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit

[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  fail(ErrorKind::Checkpoint, "safetensors file '" + path + "': " + what);
}

// Element size of the dtypes the format defines; 0 for an unknown name.
size_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

}  // namespace

std::string file_type_name(unsigned mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISREG(mode)) return "a regular file";
  return "not a file";
}

void require_regular_file(const std::string& path, unsigned mode) {
  if (!S_ISREG(mode)) fail(ErrorKind::Checkpoint, "'" + path + "' is " + file_type_name(mode) + ", not a regular file");
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO (or some devices) for reading otherwise blocks until a writer appears, which
  // would hang a pool thread forever (not even process.exit() ends it). Regular files ignore the flag.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail(ErrorKind::Checkpoint, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail(ErrorKind::Checkpoint, "cannot stat '" + path + "': " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    require_regular_file(path, st.st_mode);
  }
  size_t bytes = static_cast<size_t>(st.st_size);
  void* data = nullptr;
  if (bytes > 0) {
    data = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(ErrorKind::Checkpoint, "cannot map '" + path + "': " + std::strerror(e));
    }
  }
  ::close(fd);
  auto file = std::shared_ptr<MappedFile>(new MappedFile(data, bytes, true));
  file->device_id_ = static_cast<uint64_t>(st.st_dev);
  file->inode_ = static_cast<uint64_t>(st.st_ino);
  return file;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(const void* bytes, size_t size) {
  void* data = nullptr;
  if (size > 0) {
    data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) fail(ErrorKind::Internal, "cannot allocate " + std::to_string(size) + " bytes");
    std::memcpy(data, bytes, size);
  }
  return std::shared_ptr<MappedFile>(new MappedFile(data, size, false));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, bytes_);
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if (!data_ || !file_backed_ || offset >= bytes_) return;
  const uint64_t end = std::min<uint64_t>(offset + length, bytes_);
  const uint64_t first = (offset + page - 1) / page * page, last = end / page * page;
  if (last > first) ::madvise(static_cast<char*>(data_) + first, last - first, MADV_DONTNEED);
}

SafetensorsFile SafetensorsFile::open(const std::string& path) { return from_mapping(MappedFile::open(path), path); }

SafetensorsFile SafetensorsFile::from_mapping(std::shared_ptr<MappedFile> file, const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.file_ = std::move(file);
  const uint64_t size = f.file_->bytes();
  const auto* bytes = static_cast<const unsigned char*>(f.file_->data());
  if (size < 8) bad_file(path, "too short (" + std::to_string(size) + " bytes) to hold a header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) bad_file(path, "header length " + std::to_string(header_len) + " exceeds 100 MiB");
  if (header_len > size - 8)
    bad_file(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                       std::to_string(size) + " bytes)");
  f.data_start_ = 8 + header_len;
  const uint64_t data_bytes = size - f.data_start_;

  JsonValue header;
  try {
    header = parse_json(reinterpret_cast<const char*>(bytes + 8), header_len);
  } catch (const std::exception& e) {
    bad_file(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (header.type != JsonValue::Type::Object) bad_file(path, "header is not a JSON object");

  for (auto& [name, value] : header.object) {
    if (name == "__metadata__") {
      if (value.type != JsonValue::Type::Object) bad_file(path, "__metadata__ is not an object");
      for (auto& [k, v] : value.object) {
        if (v.type != JsonValue::Type::String) bad_file(path, "__metadata__[\"" + k + "\"] is not a string");
        f.metadata_[k] = v.string;
      }
      continue;
    }
    if (value.type != JsonValue::Type::Object) bad_file(path, "entry '" + name + "' is not an object");
    const JsonValue* dtype = value.find("dtype");
    const JsonValue* shape = value.find("shape");
    const JsonValue* offsets = value.find("data_offsets");
    if (!dtype || dtype->type != JsonValue::Type::String || !shape || shape->type != JsonValue::Type::Array ||
        !offsets || offsets->type != JsonValue::Type::Array || offsets->array.size() != 2)
      bad_file(path, "entry '" + name + "' needs dtype (string), shape (array) and data_offsets ([begin, end])");
    SafetensorsEntry e;
    e.name = name;
    e.dtype = dtype->string;
    size_t elem = safetensors_dtype_size(e.dtype);
    if (!elem) bad_file(path, "entry '" + name + "' has unknown dtype '" + e.dtype + "'");
    // numel * elem must fit the data section; check each step so huge declared dims cannot overflow.
    uint64_t numel = 1;
    for (auto& d : shape->array) {
      if (d.type != JsonValue::Type::Number || !d.is_integer || d.number < 0 || d.number > 9.0e15)
        bad_file(path, "entry '" + name + "' has an invalid dimension in its shape");
      uint64_t dim = static_cast<uint64_t>(d.number);
      e.shape.push_back(static_cast<int64_t>(dim));
      if (dim != 0 && numel > data_bytes / dim) numel = data_bytes + 1;  // saturate: too big anyway
      else numel *= dim;
    }
    for (auto* o : {&offsets->array[0], &offsets->array[1]})
      if (o->type != JsonValue::Type::Number || !o->is_integer || o->number < 0 || o->number > 1.8e19)
        bad_file(path, "entry '" + name + "' has invalid data_offsets");
    e.begin = static_cast<uint64_t>(offsets->array[0].number);
    e.end = static_cast<uint64_t>(offsets->array[1].number);
    if (e.begin > e.end || e.end > data_bytes)
      bad_file(path, "entry '" + name + "' data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                         "] lie outside the data section of " + std::to_string(data_bytes) + " bytes");
    if (numel > data_bytes || e.end - e.begin != numel * elem)
      bad_file(path, "entry '" + name + "' holds " + std::to_string(e.end - e.begin) + " bytes but shape " +
                         shape_str(e.shape) + " of " + e.dtype + " needs " +
                         (numel > data_bytes ? std::string("more than the file") : std::to_string(numel * elem)));
    f.index_[name] = f.entries_.size();
    f.entries_.push_back(std::move(e));
  }

  std::vector<const SafetensorsEntry*> by_offset;
  for (auto& e : f.entries_)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      bad_file(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
  return f;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void SafetensorsFile::release(const std::string& name) const {
  if (const SafetensorsEntry* e = find(name)) file_->release(data_start_ + e->begin, e->end - e->begin);
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) fail(ErrorKind::Checkpoint, "tensor '" + name + "' is not in '" + path_ + "'");
  DType dtype;
  if (e->dtype == "F32") dtype = DType::F32;
  else if (e->dtype == "F16") dtype = DType::F16;
  else if (e->dtype == "BF16") dtype = DType::BF16;
  else if (e->dtype == "I64") dtype = DType::I64;
  else fail(ErrorKind::Checkpoint, "tensor '" + name + "' has dtype " + e->dtype + "; supported: F32, F16, BF16, I64");
  // Alignment: the format does not promise aligned data; fp32 kernels read weights through memcpy'd
  // copies (the model converts every weight once), so an unaligned view is fine.
  return Tensor(file_, data_start_ + e->begin, dtype, e->shape);
}

}  // namespace skipdit
