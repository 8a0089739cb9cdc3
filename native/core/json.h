// A small strict JSON parser for file headers (safetensors) and nothing more: objects, arrays, strings,
// numbers, true/false/null. Depth (64) and the number of values (2^20) are bounded so a hostile header cannot
// exhaust the stack or take gigabytes.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace skipdit {

struct JsonValue {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool boolean = false;
  double number = 0;
  bool is_integer = false;  // the literal had no fraction or exponent
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order; duplicates detected by the parser

  const JsonValue* find(const std::string& key) const;
};

// Throws std::runtime_error with the byte offset of the problem. Duplicate object keys are an error.
JsonValue parse_json(const char* text, size_t length);

}  // namespace skipdit
