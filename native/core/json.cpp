#include "core/json.h"

#include <cstdlib>
#include <set>
#include <stdexcept>

namespace skipdit {

const JsonValue* JsonValue::find(const std::string& key) const {
  for (auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

namespace {

constexpr int kMaxDepth = 64;
// A parsed value takes ~100 bytes for as little as 2 bytes of text ("0,"), so a 100 MiB header could need
// ~7 GB. Real safetensors headers hold ~10 values per tensor (a few thousand tensors in the largest models).
constexpr size_t kMaxValues = size_t(1) << 20;

class Parser {
 public:
  Parser(const char* text, size_t length) : p_(text), begin_(text), end_(text + length) {}

  JsonValue parse_document() {
    JsonValue v = parse_value(0);
    skip_ws();
    if (p_ != end_) error("trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    throw std::runtime_error("invalid JSON at byte " + std::to_string(p_ - begin_) + ": " + what);
  }
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool consume(char c) {
    skip_ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) error(std::string("expected '") + c + "'");
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (static_cast<size_t>(end_ - p_) >= n && std::equal(word, word + n, p_)) {
      p_ += n;
      return true;
    }
    return false;
  }

  JsonValue parse_value(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than 64");
    if (++values_ > kMaxValues) error("more than " + std::to_string(kMaxValues) + " values");
    skip_ws();
    if (p_ >= end_) error("unexpected end of input");
    JsonValue v;
    char c = *p_;
    if (c == '{') {
      ++p_;
      v.type = JsonValue::Type::Object;
      std::set<std::string> keys;
      if (consume('}')) return v;
      do {
        skip_ws();
        std::string key = parse_string();
        if (!keys.insert(key).second) error("duplicate key \"" + key + "\"");
        expect(':');
        v.object.emplace_back(std::move(key), parse_value(depth + 1));
      } while (consume(','));
      expect('}');
    } else if (c == '[') {
      ++p_;
      v.type = JsonValue::Type::Array;
      if (consume(']')) return v;
      do v.array.push_back(parse_value(depth + 1));
      while (consume(','));
      expect(']');
    } else if (c == '"') {
      v.type = JsonValue::Type::String;
      v.string = parse_string();
    } else if (literal("true")) {
      v.type = JsonValue::Type::Bool;
      v.boolean = true;
    } else if (literal("false")) {
      v.type = JsonValue::Type::Bool;
    } else if (literal("null")) {
      v.type = JsonValue::Type::Null;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      parse_number(v);
    } else {
      error(std::string("unexpected character '") + c + "'");
    }
    return v;
  }

  void parse_number(JsonValue& v) {
    const char* start = p_;
    bool integer = true;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) error("bad number");
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' || *p_ == '+' ||
                         *p_ == '-')) {
      if (*p_ == '.' || *p_ == 'e' || *p_ == 'E') integer = false;
      ++p_;
    }
    std::string lit(start, p_);
    char* parsed_end = nullptr;
    v.type = JsonValue::Type::Number;
    v.number = std::strtod(lit.c_str(), &parsed_end);
    if (parsed_end != lit.c_str() + lit.size()) error("bad number '" + lit + "'");
    v.is_integer = integer;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  unsigned parse_hex4() {
    if (end_ - p_ < 4) error("truncated \\u escape");
    unsigned cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = *p_++;
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= h - '0';
      else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
      else error("bad \\u escape");
    }
    return cp;
  }

  std::string parse_string() {
    if (p_ >= end_ || *p_ != '"') error("expected a string");
    ++p_;
    std::string out;
    while (true) {
      if (p_ >= end_) error("unterminated string");
      char c = *p_++;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= end_) error("unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = parse_hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
            p_ += 2;
            unsigned lo = parse_hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: error("bad escape");
      }
    }
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  size_t values_ = 0;
};

}  // namespace

JsonValue parse_json(const char* text, size_t length) { return Parser(text, length).parse_document(); }

}  // namespace skipdit
