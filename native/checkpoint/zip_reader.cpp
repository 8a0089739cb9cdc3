#include "checkpoint/zip_reader.h"

#include <algorithm>

#include "core/error.h"

namespace skipdit {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfCentral = 0x06054b50;
constexpr uint32_t kZip64EndOfCentral = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr uint64_t kMaxEntries = 1u << 22;  // far more tensors than any checkpoint; bounds the directory walk

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

bool ZipReader::looks_like_zip(const unsigned char* data, uint64_t size) {
  return size >= 4 && le(data, 4) == kLocalHeader;
}

ZipReader::ZipReader(const unsigned char* data, uint64_t size, const std::string& what)
    : data_(data), size_(size), what_(what) {
  auto bad = [&](const std::string& msg) { fail(ErrorKind::Checkpoint, "zip archive '" + what_ + "': " + msg); };
  auto need = [&](uint64_t offset, uint64_t len, const char* item) {
    if (offset > size_ || len > size_ - offset) bad(std::string(item) + " runs past the end of the file (truncated?)");
  };

  // End of central directory: the last 22+ bytes (a comment of up to 64 KiB may follow it).
  if (size_ < 22) bad("too short for a zip archive");
  int64_t eocd = -1;
  const uint64_t lowest = size_ > 22 + 65535 ? size_ - 22 - 65535 : 0;
  for (uint64_t pos = size_ - 22 + 1; pos-- > lowest;) {
    if (le(data_ + pos, 4) == kEndOfCentral) {
      eocd = static_cast<int64_t>(pos);
      break;
    }
  }
  if (eocd < 0) bad("no end-of-central-directory record (truncated or not a zip file)");
  uint64_t count = le(data_ + eocd + 10, 2);
  uint64_t dir_size = le(data_ + eocd + 12, 4);
  uint64_t dir_offset = le(data_ + eocd + 16, 4);
  if (count == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) {  // ZIP64
    if (eocd < 20 || le(data_ + eocd - 20, 4) != kZip64Locator) bad("ZIP64 sizes without a ZIP64 locator");
    uint64_t rec = le(data_ + eocd - 20 + 8, 8);
    need(rec, 56, "ZIP64 end-of-central-directory record");
    if (le(data_ + rec, 4) != kZip64EndOfCentral) bad("bad ZIP64 end-of-central-directory signature");
    count = le(data_ + rec + 32, 8);
    dir_size = le(data_ + rec + 40, 8);
    dir_offset = le(data_ + rec + 48, 8);
  }
  if (count > kMaxEntries) bad("declares " + std::to_string(count) + " entries");
  need(dir_offset, dir_size, "central directory");

  uint64_t pos = dir_offset;
  const uint64_t dir_end = dir_offset + dir_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (pos > dir_end || dir_end - pos < 46) bad("central directory entry " + std::to_string(i) + " is truncated");
    const unsigned char* h = data_ + pos;
    if (le(h, 4) != kCentralHeader) bad("bad central directory signature at entry " + std::to_string(i));
    const uint64_t method = le(h + 10, 2);
    uint64_t comp = le(h + 20, 4), uncomp = le(h + 24, 4), local = le(h + 42, 4);
    const uint64_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
    if (dir_end - pos - 46 < name_len + extra_len + comment_len) bad("central directory entry " + std::to_string(i) + " is truncated");
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + 46), name_len);
    // ZIP64 extra field (id 1): the 0xFFFFFFFF fields, in order uncompressed, compressed, local offset.
    const unsigned char* x = h + 46 + name_len;
    for (uint64_t off = 0; off + 4 <= extra_len;) {
      const uint64_t id = le(x + off, 2), len = le(x + off + 2, 2);
      if (off + 4 + len > extra_len) bad("bad extra field in entry '" + e.name + "'");
      if (id == 1) {
        uint64_t p = off + 4;
        auto take = [&](uint64_t& field) {
          if (field != 0xFFFFFFFF) return;
          if (p + 8 > off + 4 + len) bad("short ZIP64 extra field in entry '" + e.name + "'");
          field = le(x + p, 8);
          p += 8;
        };
        take(uncomp);
        take(comp);
        take(local);
      }
      off += 4 + len;
    }
    if (method != 0) bad("entry '" + e.name + "' is compressed (method " + std::to_string(method) +
                         "); torch.save stores entries uncompressed: re-save the checkpoint with torch.save");
    if (comp != uncomp) bad("entry '" + e.name + "' has different stored and uncompressed sizes");
    need(local, 30, "local header");
    if (le(data_ + local, 4) != kLocalHeader) bad("bad local header signature for entry '" + e.name + "'");
    const uint64_t lname = le(data_ + local + 26, 2), lextra = le(data_ + local + 28, 2);
    e.data_offset = local + 30 + lname + lextra;
    e.size = comp;
    need(e.data_offset, e.size, ("data of entry '" + e.name + "'").c_str());
    if (!entries_.emplace(e.name, e).second) bad("duplicate entry '" + e.name + "'");
    pos += 46 + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace skipdit
