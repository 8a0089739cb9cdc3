#include "checkpoint/checkpoint.h"

#include <cerrno>
#include <cstdio>
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

}  // namespace

std::string Checkpoint::dtype(const std::string& name) const {
  if (torch) return torch->dtype(name);
  return safetensors->file().find(name)->dtype;
}

Checkpoint open_checkpoint(std::shared_ptr<MappedFile> file, const std::string& path, const std::string& key) {
  Checkpoint c;
  const auto* data = static_cast<const unsigned char*>(file->data());
  const uint64_t size = file->bytes();
  if (ZipReader::looks_like_zip(data, size) || TorchCheckpoint::is_legacy_format(data, size)) {
    auto torch = TorchCheckpoint::open(std::move(file), path, key);
    c.format = Checkpoint::Format::TorchZip;
    c.torch = torch.get();
    c.source = std::move(torch);
  } else {
    if (!key.empty())
      fail(ErrorKind::Checkpoint, "'" + path + "' is a safetensors file (one state dict); checkpoint key '" + key + "' does not apply");
    auto st = std::make_unique<SafetensorsSource>(SafetensorsFile::from_mapping(std::move(file), path));
    c.safetensors = st.get();
    c.source = std::move(st);
  }
  return c;
}

Checkpoint open_checkpoint_file(const std::string& path, const std::string& key) {
  return open_checkpoint(MappedFile::open(path), path, key);
}

uint64_t write_safetensors(const std::string& path, const Checkpoint& checkpoint,
                           const std::map<std::string, std::string>& metadata) {
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
    items.push_back({name, t.dtype(), t.shape(), t.nbytes()});
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

  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail(ErrorKind::InvalidArgument, "cannot write '" + path + "': " + std::strerror(errno));
  auto write = [&](const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f) != n) {
      std::fclose(f);
      fail(ErrorKind::Internal, "writing '" + path + "' failed: " + std::strerror(errno));
    }
  };
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  write(len, 8);
  write(header.data(), header.size());
  for (auto& it : items) {
    Tensor t = src.get(it.name);
    write(t.raw(), t.nbytes());
    src.release(it.name);
  }
  if (std::fclose(f) != 0) fail(ErrorKind::Internal, "closing '" + path + "' failed");
  return 8 + header.size() + offset;
}

}  // namespace skipdit
