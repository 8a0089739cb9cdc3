// Read-only view of an uncompressed ("stored") zip archive in memory, as written by torch.save: the central
// directory (with ZIP64 sizes and offsets) is parsed and every entry's data range is checked against the
// buffer before anything reads it.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace skipdit {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // of the first data byte, in the archive
  uint64_t size = 0;         // stored size = uncompressed size
};

class ZipReader {
 public:
  // Throws Error(Checkpoint) naming `what` (the file) and the problem. Compressed entries are refused.
  ZipReader(const unsigned char* data, uint64_t size, const std::string& what);

  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;
  const unsigned char* bytes(const ZipEntry& e) const { return data_ + e.data_offset; }

  static bool looks_like_zip(const unsigned char* data, uint64_t size);

 private:
  const unsigned char* data_;
  uint64_t size_;
  std::string what_;
  std::map<std::string, ZipEntry> entries_;
};

}  // namespace skipdit
