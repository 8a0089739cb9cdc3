#include "checkpoint/pickle.h"

#include <cmath>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_map>

#include "core/error.h"

namespace skipdit {

const PyValue* PyValue::get(const std::string& key) const {
  for (auto& [k, v] : entries)
    if (k->kind == Kind::Str && k->text == key) return v;
  return nullptr;
}

const char* PyValue::kind_name() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
    case Kind::Object: return "object";
  }
  return "?";
}

namespace {

using Kind = PyValue::Kind;

// Storage classes of torch, by the dtype name skipdit uses for them.
const std::map<std::string, std::string>& storage_dtypes() {
  static const std::map<std::string, std::string> m = {
      {"torch.FloatStorage", "F32"}, {"torch.HalfStorage", "F16"},  {"torch.BFloat16Storage", "BF16"},
      {"torch.DoubleStorage", "F64"}, {"torch.LongStorage", "I64"}, {"torch.IntStorage", "I32"},
      {"torch.ShortStorage", "I16"},  {"torch.CharStorage", "I8"},  {"torch.ByteStorage", "U8"},
      {"torch.BoolStorage", "BOOL"},
  };
  return m;
}

class Unpickler {
 public:
  Unpickler(const unsigned char* data, uint64_t size, std::string what)
      : p_(data), begin_(data), end_(data + size), what_(std::move(what)), max_edges_(4 * size + 65536) {}

  PickleData run() {
    while (true) {
      if (p_ >= end_) bad("ends without STOP (truncated?)");
      const unsigned char op = *p_++;
      switch (op) {
        case 0x80: u8(); break;                      // PROTO
        case 0x95: bytes(8); break;                  // FRAME (length ignored: we read the whole buffer)
        case '.':                                    // STOP
          if (stack_.size() != 1 || !marks_.empty()) bad("STOP with " + std::to_string(stack_.size()) + " values on the stack");
          data_.root = stack_.back();
          return std::move(data_);
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                              // POP
        case '1': pop_mark(); break;                         // POP_MARK
        case '2': push(top()); break;                        // DUP
        case 'N': push(make(Kind::None)); break;
        case 0x88: push(make_bool(true)); break;
        case 0x89: push(make_bool(false)); break;
        case 'J': push(make_int(static_cast<int32_t>(u32()))); break;  // BININT
        case 'K': push(make_int(u8())); break;                         // BININT1
        case 'M': push(make_int(u16())); break;                        // BININT2
        case 0x8a: push(make_int(long_bytes(u8()))); break;            // LONG1
        case 0x8b: push(make_int(long_bytes(u32()))); break;           // LONG4
        case 'I': push(text_int(line())); break;                       // INT (protocol 0)
        case 'L': push(text_int(line())); break;                       // LONG (protocol 0)
        case 'G': push(make_float(be_double())); break;                // BINFLOAT
        case 'F': push(make_float(text_float(line()))); break;         // FLOAT
        case 'X': push(make_text(Kind::Str, u32())); break;            // BINUNICODE
        case 0x8c: push(make_text(Kind::Str, u8())); break;            // SHORT_BINUNICODE
        case 0x8d: push(make_text(Kind::Str, u64())); break;           // BINUNICODE8
        case 'T': push(make_text(Kind::Str, u32())); break;            // BINSTRING (py2 str)
        case 'U': push(make_text(Kind::Str, u8())); break;             // SHORT_BINSTRING
        case 'B': push(make_text(Kind::Bytes, u32())); break;          // BINBYTES
        case 'C': push(make_text(Kind::Bytes, u8())); break;           // SHORT_BINBYTES
        case 0x8e: push(make_text(Kind::Bytes, u64())); break;         // BINBYTES8
        case ')': push(make(Kind::Tuple)); break;                      // EMPTY_TUPLE
        case 't': push(make_seq(Kind::Tuple, pop_mark())); break;      // TUPLE
        case 0x85: push(make_seq(Kind::Tuple, pop_n(1))); break;       // TUPLE1
        case 0x86: push(make_seq(Kind::Tuple, pop_n(2))); break;       // TUPLE2
        case 0x87: push(make_seq(Kind::Tuple, pop_n(3))); break;       // TUPLE3
        case ']': push(make(Kind::List)); break;                       // EMPTY_LIST
        case 'l': push(make_seq(Kind::List, pop_mark())); break;       // LIST
        case 'a': append(pop_n(1)); break;                             // APPEND
        case 'e': append(pop_mark()); break;                           // APPENDS
        case '}': push(make(Kind::Dict)); break;                       // EMPTY_DICT
        case 'd': {                                                    // DICT
          auto v = make(Kind::Dict);
          set_items(*v, pop_mark());
          push(v);
          break;
        }
        case 's': {                                                    // SETITEM
          auto kv = pop_n(2);
          set_items(mutable_top_of(0), kv);
          break;
        }
        case 'u': {                                                    // SETITEMS
          auto items = pop_mark();
          set_items(mutable_top_of(0), items);
          break;
        }
        case 0x8f: push(make(Kind::Set)); break;                       // EMPTY_SET
        case 0x90: {                                                   // ADDITEMS
          auto items = pop_mark();
          add_items(mutable_top_of(0), items);
          break;
        }
        case 0x91: push(make_seq(Kind::Set, pop_mark())); break;       // FROZENSET
        case 'c': {                                                    // GLOBAL
          std::string module = line(), name = line();
          push(make_global(module, name));
          break;
        }
        case 0x93: {                                                   // STACK_GLOBAL
          auto parts = pop_n(2);
          if (parts[0]->kind != Kind::Str || parts[1]->kind != Kind::Str) bad("STACK_GLOBAL needs two strings");
          push(make_global(parts[0]->text, parts[1]->text));
          break;
        }
        case 'Q': push(persistent(pop())); break;                      // BINPERSID
        case 'R': {                                                    // REDUCE
          auto args = pop();
          auto callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 0x81: {                                                   // NEWOBJ
          auto args = pop();
          auto cls = pop();
          push(newobj(cls, args));
          break;
        }
        case 'b': {                                                    // BUILD
          auto state = pop();
          build(mutable_top_of(0), state);
          break;
        }
        case 'q': memo_put(u8()); break;                               // BINPUT
        case 'r': memo_put(u32()); break;                              // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;                      // MEMOIZE
        case 'p': memo_put(text_index(line())); break;                 // PUT
        case 'h': push(memo_get(u8())); break;                         // BINGET
        case 'j': push(memo_get(u32())); break;                        // LONG_BINGET
        case 'g': push(memo_get(text_index(line()))); break;           // GET
        case 'i': case 'o': case 0x92: case 'P':
          bad(std::string("opcode '") + op_name(op) + "' (object construction or text persistent id) is not allowed");
        default:
          bad("unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

 private:
  [[noreturn]] void bad(const std::string& msg) const {
    fail(ErrorKind::Checkpoint, "pickle in '" + what_ + "' at byte " + std::to_string(p_ - begin_) + ": " + msg);
  }
  static std::string hex(unsigned v) {
    const char* d = "0123456789abcdef";
    return std::string{d[(v >> 4) & 15], d[v & 15]};
  }
  static const char* op_name(unsigned char op) {
    switch (op) {
      case 'i': return "INST";
      case 'o': return "OBJ";
      case 0x92: return "NEWOBJ_EX";
      default: return "PERSID";
    }
  }

  // ---- reading
  const unsigned char* bytes(uint64_t n) {
    if (static_cast<uint64_t>(end_ - p_) < n) bad("a length of " + std::to_string(n) + " runs past the end");
    const unsigned char* b = p_;
    p_ += n;
    return b;
  }
  uint64_t le(int n) {
    const unsigned char* b = bytes(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  uint64_t u8() { return le(1); }
  uint64_t u16() { return le(2); }
  uint64_t u32() { return le(4); }
  uint64_t u64() { return le(8); }
  double be_double() {
    const unsigned char* b = bytes(8);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
    double d;
    std::memcpy(&d, &v, 8);
    return d;
  }
  int64_t long_bytes(uint64_t n) {
    if (n > 8) bad("integer of " + std::to_string(n) + " bytes is too large");
    if (n == 0) return 0;
    const unsigned char* b = bytes(n);
    uint64_t v = 0;
    for (int i = static_cast<int>(n) - 1; i >= 0; --i) v = (v << 8) | b[i];
    if (n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  std::string line() {
    const unsigned char* nl = static_cast<const unsigned char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) bad("unterminated text line");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }
  PyRef text_int(const std::string& s) {
    if (s == "00") return make_bool(false);
    if (s == "01") return make_bool(true);
    std::string t = (!s.empty() && s.back() == 'L') ? s.substr(0, s.size() - 1) : s;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end || errno) bad("bad integer literal");
    return make_int(v);
  }
  double text_float(const std::string& s) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end) bad("bad float literal");
    return v;
  }
  uint64_t text_index(const std::string& s) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end) bad("bad memo index");
    return v;
  }

  // ---- values
  PyValue* make(Kind k) {
    if (data_.arena.size() >= kMaxValues) bad("more than " + std::to_string(kMaxValues) + " values");
    data_.arena.push_back(std::make_unique<PyValue>());
    PyValue* v = data_.arena.back().get();
    v->kind = k;
    return v;
  }
  PyRef make_bool(bool b) {
    auto v = make(Kind::Bool);
    v->boolean = b;
    return v;
  }
  PyRef make_int(int64_t i) {
    auto v = make(Kind::Int);
    v->integer = i;
    return v;
  }
  PyRef make_float(double d) {
    auto v = make(Kind::Float);
    v->real = d;
    return v;
  }
  PyRef make_text(Kind k, uint64_t n) {
    auto v = make(k);
    const unsigned char* b = bytes(n);
    v->text.assign(reinterpret_cast<const char*>(b), n);
    return v;
  }
  PyRef make_global(const std::string& module, const std::string& name) {
    // Real module and class names are short; long memoised strings joined over and over would be a way to
    // allocate far more than the file holds.
    if (module.size() > kMaxNameBytes || name.size() > kMaxNameBytes) bad("a global name longer than " + std::to_string(kMaxNameBytes) + " bytes");
    auto v = make(Kind::Global);
    v->text = module + "." + name;
    return v;
  }
  // Every reference stored in a container goes through here.
  void adopt_depth(PyValue& parent, const PyRef& child) {
    if (child == &parent) bad("a container that contains itself");
    // REDUCE (set, torch.Size, OrderedDict) and BUILD copy references out of memoised containers, so a few
    // opcodes can copy a big container over and over: the references stored, in all, are bounded by the
    // pickle's size (real pickles store about one per opcode byte or less).
    if (++edges_ > max_edges_) bad("its containers hold more than " + std::to_string(max_edges_) + " references in all (the same container copied over and over?)");
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > kMaxPickleDepth) bad("values nested deeper than " + std::to_string(kMaxPickleDepth));
  }
  PyRef make_seq(Kind k, std::vector<PyRef> items) {
    auto v = make(k);
    for (auto& i : items) adopt_depth(*v, i);
    v->items = std::move(items);
    return v;
  }

  // ---- stack
  void push(PyRef v) { stack_.push_back(std::move(v)); }
  PyRef pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("stack underflow");
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const PyRef& top() {
    if (stack_.empty()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<PyRef> pop_n(size_t n) {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) bad("stack underflow");
    std::vector<PyRef> out(stack_.end() - n, stack_.end());
    stack_.resize(stack_.size() - n);
    return out;
  }
  std::vector<PyRef> pop_mark() {
    if (marks_.empty()) bad("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    if (stack_.size() < m) bad("stack underflow");
    std::vector<PyRef> out(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return out;
  }
  // The value `below` slots under the top (after the caller popped its operands), to be mutated in place:
  // containers are built by mutation, so shared (memoised) containers see the same contents, as in Python.
  PyValue& mutable_top_of(size_t below) {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + 1 + below) bad("stack underflow");
    return const_cast<PyValue&>(*stack_[stack_.size() - 1 - below]);
  }

  void append(const std::vector<PyRef>& items) {
    PyValue& list = mutable_top_of(0);
    if (list.kind != Kind::List) bad(std::string("APPEND to a ") + list.kind_name());
    for (auto& i : items) {
      adopt_depth(list, i);
      list.items.push_back(i);
    }
  }
  void set_items(PyValue& dict, const std::vector<PyRef>& kv) {
    if (dict.kind != Kind::Dict) bad(std::string("SETITEM on a ") + dict.kind_name());
    if (kv.size() % 2) bad("odd number of items for SETITEMS");
    // A str key already present is replaced in place (as in Python), found through a per-dict index: a scan
    // of the entries for every key would take time quadratic in the size of the pickle.
    auto& index = str_keys_[&dict];
    for (size_t i = 0; i < kv.size(); i += 2) {
      adopt_depth(dict, kv[i]);
      adopt_depth(dict, kv[i + 1]);
      if (kv[i]->kind == Kind::Str) {
        auto [it, inserted] = index.emplace(kv[i]->text, dict.entries.size());  // Str texts never change: views stay valid
        if (!inserted) {
          dict.entries[it->second].second = kv[i + 1];
          continue;
        }
      }
      dict.entries.emplace_back(kv[i], kv[i + 1]);
    }
  }
  void add_items(PyValue& set, const std::vector<PyRef>& items) {
    if (set.kind != Kind::Set) bad(std::string("ADDITEMS to a ") + set.kind_name());
    for (auto& i : items) {
      adopt_depth(set, i);
      set.items.push_back(i);
    }
  }

  void memo_put(uint64_t index) {
    if (memo_.size() >= kMaxValues) bad("memo too large");
    memo_[index] = top();
  }
  PyRef memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) bad("memo index " + std::to_string(index) + " was never stored");
    return it->second;
  }

  // ---- the only places where "calls" happen: all interpreted, none executed
  std::vector<int64_t> int_tuple(const PyValue& v, const char* what) {
    if (v.kind != Kind::Tuple && v.kind != Kind::List) bad(std::string(what) + " must be a tuple of ints");
    std::vector<int64_t> out;
    for (auto& i : v.items) {
      if (i->kind != Kind::Int) bad(std::string(what) + " must be a tuple of ints");
      out.push_back(i->integer);
    }
    return out;
  }

  PyRef persistent(const PyRef& pid) {
    // ('storage', <torch.XStorage>, key, location, numel)
    if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::Str || pid->items[0]->text != "storage")
      bad("persistent id is not ('storage', type, key, location, numel)");
    const PyValue& type = *pid->items[1];
    const PyValue& key = *pid->items[2];
    const PyValue& numel = *pid->items[4];
    if (type.kind != Kind::Global) bad("storage type is not a class name");
    auto dt = storage_dtypes().find(type.text);
    if (dt == storage_dtypes().end()) bad("storage type " + type.text + " is not supported");
    if (key.kind != Kind::Str || numel.kind != Kind::Int || numel.integer < 0) bad("bad storage key or size");
    auto v = make(Kind::Storage);
    v->text = dt->second;
    v->storage_key = key.text;
    v->storage_numel = numel.integer;
    return v;
  }

  [[noreturn]] void refuse(const std::string& how, const std::string& name) {
    bad("refusing to " + how + " '" + name +
        "': only tensor containers are allowed (torch._utils._rebuild_tensor_v2, _rebuild_parameter, "
        "collections.OrderedDict, argparse.Namespace as plain data); nothing was executed");
  }

  PyRef reduce(const PyRef& callable, const PyRef& args) {
    if (callable->kind != Kind::Global) bad(std::string("REDUCE on a ") + callable->kind_name());
    if (args->kind != Kind::Tuple) bad("REDUCE arguments are not a tuple");
    const std::string& f = callable->text;
    const auto& a = args->items;
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int) bad(f + ": bad arguments");
      auto t = make(Kind::Tensor);
      t->storage = a[0];
      t->storage_offset = a[1]->integer;
      t->shape = int_tuple(*a[2], "tensor size");
      t->stride = int_tuple(*a[3], "tensor stride");
      if (t->shape.size() != t->stride.size() || t->shape.size() > 16) bad("tensor size and stride differ in length");
      t->text = a[0]->text;
      return t;
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != Kind::Tensor) bad(f + ": bad arguments");
      return a[0];
    }
    if (f == "collections.OrderedDict") {
      auto d = make(Kind::Dict);
      if (!a.empty()) {
        if (a[0]->kind != Kind::List) bad("OrderedDict argument is not a list of pairs");
        for (auto& pair : a[0]->items) {
          if (pair->kind != Kind::Tuple || pair->items.size() != 2) bad("OrderedDict argument is not a list of pairs");
          set_items(*d, pair->items);
        }
      }
      return d;
    }
    if (f == "builtins.set" || f == "builtins.frozenset" || f == "__builtin__.set" || f == "torch.Size") {
      if (a.size() > 1 || (a.size() == 1 && a[0]->kind != Kind::List && a[0]->kind != Kind::Tuple)) bad(f + ": bad arguments");
      return make_seq(f == "torch.Size" ? Kind::Tuple : Kind::Set, a.empty() ? std::vector<PyRef>{} : a[0]->items);
    }
    refuse("call", f);
  }

  PyRef newobj(const PyRef& cls, const PyRef& args) {
    if (cls->kind != Kind::Global) bad(std::string("NEWOBJ on a ") + cls->kind_name());
    if (cls->text == "argparse.Namespace") {
      auto o = make(Kind::Object);
      o->text = cls->text;
      return o;
    }
    if (cls->text == "collections.OrderedDict") return make(Kind::Dict);
    refuse("instantiate", cls->text);
  }

  void build(PyValue& target, const PyRef& state) {
    if (target.kind == Kind::Object || target.kind == Kind::Dict) {
      // Namespace attributes, or the instance attributes of an OrderedDict (torch's `_metadata`): kept as data.
      const PyValue* attrs = state;
      if (attrs->kind == Kind::Tuple && attrs->items.size() == 2) attrs = attrs->items[0];  // (dict, slots)
      if (attrs->kind == Kind::None) return;
      if (attrs->kind != Kind::Dict) bad("BUILD state is not a dict");
      if (target.kind == Kind::Object) {
        for (auto& e : attrs->entries) {
          adopt_depth(target, e.first);
          adopt_depth(target, e.second);
          target.entries.push_back(e);
        }
      }
      return;
    }
    if (target.kind == Kind::Tensor) return;  // tensor state (e.g. requires_grad hooks): not needed
    if (target.kind == Kind::Global) refuse("build", target.text);
    bad(std::string("BUILD on a ") + target.kind_name());
  }

  const unsigned char* p_;
  const unsigned char* begin_;
  const unsigned char* end_;
  std::string what_;
  // About 1 GB of values at most (a PyValue is a few hundred bytes); real checkpoints, optimizer state
  // included, hold a few hundred thousand.
  static constexpr size_t kMaxValues = size_t(1) << 22;
  static constexpr size_t kMaxNameBytes = 1024;
  const uint64_t max_edges_;
  uint64_t edges_ = 0;
  std::unordered_map<const PyValue*, std::unordered_map<std::string_view, size_t>> str_keys_;
  PickleData data_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyRef> memo_;
};

}  // namespace

PickleData unpickle(const unsigned char* data, uint64_t size, const std::string& what) {
  return Unpickler(data, size, what).run();
}

}  // namespace skipdit
