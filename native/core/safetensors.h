// Read-only safetensors files, memory-mapped: tensors are views into the mapping, so a multi-GB checkpoint
// is never copied as a whole; the model copies (or converts) each weight once into its own layout.
//
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets:[b,e]},
// "__metadata__": {str: str}}, then the data section. Everything is validated before any tensor is used:
// header size, JSON syntax, known dtypes, non-negative shapes without overflow, offsets inside the data
// section, byte sizes equal to numel * dtype size, no two tensors overlapping.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace skipdit {

// "a directory", "a FIFO (named pipe)", "a character device", ... for a st_mode that is not a regular file.
std::string file_type_name(unsigned mode);
// Throws Error(Checkpoint) "'<path>' is <type>, not a regular file" unless `mode` is a regular file's.
void require_regular_file(const std::string& path, unsigned mode);

// A read-only private mapping of a whole file; unmapped when the last tensor viewing it is gone.
class MappedFile final : public Buffer {
 public:
  // A copy of `bytes` in anonymous memory, for parsing buffers with the same code as files.
  static std::shared_ptr<MappedFile> from_bytes(const void* bytes, size_t size);
  // Refuses anything but a regular file (Error(Checkpoint)) without ever blocking: see the .cpp.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile() override;
  // Identity of the mapped file (both 0 for from_bytes), to refuse writing over it while it is mapped.
  uint64_t device_id() const { return device_id_; }
  uint64_t inode() const { return inode_; }
  // Drops the resident pages fully inside [offset, offset + length) (they are re-read from the file if
  // touched again): keeps peak memory near the size of the weights while a model copies them out.
  void release(uint64_t offset, uint64_t length) const;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

 private:
  MappedFile(void* data, size_t bytes, bool file_backed) : Buffer(data, bytes, Device::CPU), file_backed_(file_backed) {}
  bool file_backed_;  // only file pages can be dropped and re-read; anonymous ones would read back as zeros
  uint64_t device_id_ = 0, inode_ = 0;
};

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as written in the file ("F32", "BF16", ...)
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
};

class SafetensorsFile {
 public:
  // Throws Error(Checkpoint) naming the file and the problem.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(const std::string& name) const;

  // A view of the tensor's bytes (F32, F16, BF16 or I64); other dtypes are a Checkpoint error.
  Tensor tensor(const std::string& name) const;
  void release(const std::string& name) const;
  // Parses an already mapped file (also used for in-memory buffers in tests).
  static SafetensorsFile from_mapping(std::shared_ptr<MappedFile> file, const std::string& path);

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  uint64_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
};

}  // namespace skipdit
