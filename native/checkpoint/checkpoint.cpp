#include "checkpoint/checkpoint.h"

#include "core/dtype_convert.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace skipdit {

namespace {

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out;
}

const char* dtype_code(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
  }
  return "F32";
}

// Legacy torch.save (PyTorch < 1.6, or _use_new_zipfile_serialization=False) starts with a pickled magic
// number: PROTO n, [FRAME (protocol 4+)], LONG1 10 bytes 0x1950a86a20f9469cfc6c.
bool is_legacy_torch_pickle(const unsigned char* data, uint64_t size) {
  static const unsigned char magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  uint64_t at = 2;
  if (size > at && data[at] == 0x95) at += 9;  // FRAME + its 8-byte length
  return size >= at + sizeof(magic) && std::memcmp(data + at, magic, sizeof(magic)) == 0;
}

// Refuses a file that is neither safetensors nor a torch.save zip archive, saying what it is.
[[noreturn]] void refuse_format(const unsigned char* data, uint64_t size, const std::string& path) {
  const std::string file = "'" + path + "'";
  if (size >= 2 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5) {  // pickle PROTO 2..5
    if (is_legacy_torch_pickle(data, size))
      fail(ErrorKind::Checkpoint, file + " is a legacy (non-zip) torch.save pickle, which skipdit does not read; re-save it "
                                         "with torch.save(obj, path) (PyTorch >= 1.6 default zip format), or convert it to safetensors");
    fail(ErrorKind::Checkpoint, file + " is a plain Python pickle (protocol " + std::to_string(data[1]) +
                                     "), not a torch.save checkpoint; skipdit reads safetensors files and torch.save zip archives");
  }
  if (size >= 262 && std::memcmp(data + 257, "ustar", 5) == 0)
    fail(ErrorKind::Checkpoint, file + " is a tar archive (the torch.save format of the earliest PyTorch releases), which skipdit "
                                       "does not read; load it with torch.load and re-save it with torch.save(obj, path) in PyTorch >= 1.6");
  if (size < 9)
    fail(ErrorKind::Checkpoint, file + " is too short (" + std::to_string(size) + " bytes) to be a safetensors file or a torch.save checkpoint");
  // Neither: show the first bytes, which usually tell what the file is.
  std::string hex, text;
  for (uint64_t i = 0; i < std::min<uint64_t>(size, 16); ++i) {
    char b[4];
    std::snprintf(b, sizeof b, "%02x ", data[i]);
    hex += b;
    text += data[i] >= 0x20 && data[i] < 0x7f ? static_cast<char>(data[i]) : '.';
  }
  hex.pop_back();
  fail(ErrorKind::Checkpoint, file + " is not a safetensors file (no JSON header after the 8-byte length) nor a torch.save zip "
                                     "archive; it starts with " + hex + " (\"" + text + "\")");
}

}  // namespace

std::string Checkpoint::dtype(const std::string& name) const {
  if (torch) return torch->dtype(name);
  return safetensors->file().find(name)->dtype;
}

Checkpoint open_checkpoint(std::shared_ptr<MappedFile> file, const std::string& path, const std::string& key) {
  Checkpoint c;
  c.path = path;
  c.file = file;
  const auto* data = static_cast<const unsigned char*>(file->data());
  const uint64_t size = file->bytes();
  if (ZipReader::looks_like_zip(data, size)) {
    auto torch = TorchCheckpoint::open(std::move(file), path, key);
    c.format = Checkpoint::Format::TorchZip;
    c.torch = torch.get();
    c.source = std::move(torch);
  } else if (size >= 9 && data[8] == '{') {  // the format requires the JSON header to start with '{'
    if (!key.empty())
      fail(ErrorKind::Checkpoint, "'" + path + "' is a safetensors file (one state dict); checkpoint key '" + key + "' does not apply");
    auto st = std::make_unique<SafetensorsSource>(SafetensorsFile::from_mapping(std::move(file), path));
    c.safetensors = st.get();
    c.source = std::move(st);
  } else {
    refuse_format(data, size, path);
  }
  return c;
}

Checkpoint open_checkpoint_file(const std::string& path, const std::string& key) {
  return open_checkpoint(MappedFile::open(path), path, key);
}

namespace {

// The file a convert writes: checks the destination, then collects the data in a temporary file in the same
// directory (so the final rename is atomic), which commit() renames over the destination; destroyed before
// that (an error while converting or writing), it removes the temporary file and the destination is as it was.
class AtomicOutput {
 public:
  AtomicOutput(const std::string& path, const Checkpoint& input) : path_(path) {
    struct stat st {};
    int mode = -1;  // of an existing destination, kept by the new file
    if (::stat(path.c_str(), &st) == 0) {  // follows symlinks, like the input's open did
      if (input.file && input.file->device_id() == static_cast<uint64_t>(st.st_dev) && input.file->inode() == static_cast<uint64_t>(st.st_ino))
        fail(ErrorKind::InvalidArgument, "output '" + path + "' is the same file as the input '" + input.path +
                                             "'; write the converted file to another path");
      if (!S_ISREG(st.st_mode))
        fail(ErrorKind::InvalidArgument, "output '" + path + "' is " + file_type_name(st.st_mode) + ", not a regular file");
      // An existing symlink is written through, to its target, as opening it for writing would.
      if (char* real = ::realpath(path.c_str(), nullptr)) {
        target_ = real;
        std::free(real);
      }
      mode = static_cast<int>(st.st_mode & 07777);
    } else if (errno != ENOENT) {
      fail(ErrorKind::InvalidArgument, "cannot write output '" + path + "': " + std::strerror(errno));
    }
    if (target_.empty()) target_ = path;
    const size_t slash = target_.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : target_.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? target_ : target_.substr(slash + 1);
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0; fd_ < 0; ++attempt) {
      const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
      temp_ = dir + "." + base + ".skipdit-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
              std::to_string(static_cast<unsigned long long>(now) % 1000000007ull) + ".tmp";
      // O_EXCL: a fresh regular file of ours, never an existing file or a planted symlink.
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && (errno != EEXIST || attempt >= 100)) {
        const int e = errno;
        temp_.clear();
        fail(ErrorKind::InvalidArgument, "cannot write output '" + path + "': cannot create a file in its folder: " + std::strerror(e));
      }
    }
    if (mode >= 0) ::fchmod(fd_, static_cast<mode_t>(mode));  // best effort: the data matters, not the mode
  }
  ~AtomicOutput() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  void write(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      const ssize_t w = ::write(fd_, c, std::min<size_t>(n, size_t(1) << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail(ErrorKind::Internal, "writing '" + path_ + "' failed: " + std::strerror(w < 0 ? errno : EIO));
      c += w;
      n -= static_cast<size_t>(w);
    }
  }
  // Durable first (a crash after the rename must not leave an empty file), then atomically in place.
  void commit() {
    if (::fsync(fd_) != 0) fail(ErrorKind::Internal, "writing '" + path_ + "' failed: " + std::strerror(errno));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(ErrorKind::Internal, "closing '" + path_ + "' failed: " + std::strerror(errno));
    if (::rename(temp_.c_str(), target_.c_str()) != 0)
      fail(ErrorKind::Internal, "cannot move the converted file to '" + path_ + "': " + std::strerror(errno));
    temp_.clear();
  }

 private:
  std::string path_, target_, temp_;
  int fd_ = -1;
};

}  // namespace

uint64_t write_safetensors(const std::string& path, const Checkpoint& checkpoint,
                           const std::map<std::string, std::string>& metadata, const std::set<std::string>& bf16_names) {
  AtomicOutput out(path, checkpoint);  // checks the destination before any work
  const WeightSource& src = *checkpoint.source;
  struct Item {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t bytes;
  };
  std::vector<Item> items;
  for (auto& name : src.names()) {
    const std::string stored = checkpoint.dtype(name);
    if (stored == "I64") {
      Tensor t = src.get(name);
      items.push_back({name, DType::I64, t.shape(), t.nbytes()});
      continue;
    }
    if (stored != "F32" && stored != "F16" && stored != "BF16" && stored != "F64")
      fail(ErrorKind::Checkpoint, "cannot convert tensor '" + name + "' of dtype " + stored);
    Tensor t = src.get(name);  // a view, or a float32 copy for strided / float64 tensors
    if (bf16_names.count(name)) items.push_back({name, DType::BF16, t.shape(), uint64_t(t.numel()) * 2});
    else items.push_back({name, t.dtype(), t.shape(), t.nbytes()});
    src.release(name);
  }
  std::string header = "{\"__metadata__\":{";
  bool first = true;
  for (auto& [k, v] : metadata) {
    header += std::string(first ? "" : ",") + "\"" + json_escape(k) + "\":\"" + json_escape(v) + "\"";
    first = false;
  }
  header += "}";
  uint64_t offset = 0;
  for (auto& it : items) {
    header += ",\"" + json_escape(it.name) + "\":{\"dtype\":\"" + dtype_code(it.dtype) + "\",\"shape\":" + shape_str(it.shape) +
              ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + it.bytes) + "]}";
    offset += it.bytes;
  }
  header += "}";
  while ((8 + header.size()) % 8) header += ' ';

  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  out.write(len, 8);
  out.write(header.data(), header.size());
  std::vector<float> wide;
  std::vector<uint16_t> narrow;
  for (auto& it : items) {
    Tensor t = src.get(it.name);
    if (it.dtype == DType::BF16 && t.dtype() != DType::BF16) {
      const float* f = t.dtype() == DType::F32 ? t.f32() : nullptr;
      if (!f) {
        wide.resize(t.numel());
        convert_to_f32(t, wide.data());
        f = wide.data();
      }
      narrow.resize(t.numel());
      for (int64_t i = 0; i < t.numel(); ++i) narrow[i] = f32_to_bf16(f[i]);
      out.write(narrow.data(), narrow.size() * 2);
    } else {
      out.write(t.raw(), t.nbytes());
    }
    src.release(it.name);
  }
  out.commit();
  return 8 + header.size() + offset;
}

}  // namespace skipdit
