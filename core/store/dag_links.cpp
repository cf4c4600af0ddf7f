#include "core/store/dag_links.h"

#include <nlohmann/json.hpp>

#include "core/codec/dagcbor.h"
#include "core/codec/dagpb.h"

namespace ipfskit {

namespace {

// SAX handler: a link is an object with exactly one key "/" whose value is a string. SAX keeps
// the nesting on the heap, so deeply nested input cannot overflow the stack.
class DagJsonLinkFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  struct Frame {
    bool object = false;
    size_t keys = 0;
    bool slash_key = false;  // the last key was "/"
    std::optional<std::string> link;
  };
  std::vector<Frame> stack;
  std::vector<std::string> links;
  std::string error;

  void Value(const string_t* s) {
    if (stack.empty() || !stack.back().object) return;
    Frame& f = stack.back();
    if (f.slash_key && s) f.link = *s;
    f.slash_key = false;
  }
  bool null() override { return Value(nullptr), true; }
  bool boolean(bool) override { return Value(nullptr), true; }
  bool number_integer(number_integer_t) override { return Value(nullptr), true; }
  bool number_unsigned(number_unsigned_t) override { return Value(nullptr), true; }
  bool number_float(number_float_t, const string_t&) override { return Value(nullptr), true; }
  bool string(string_t& s) override { return Value(&s), true; }
  bool binary(binary_t&) override { return Value(nullptr), true; }
  bool start_object(std::size_t) override {
    Value(nullptr);
    stack.emplace_back().object = true;
    return true;
  }
  bool key(string_t& k) override {
    Frame& f = stack.back();
    f.keys++;
    f.slash_key = (k == "/");
    return true;
  }
  bool end_object() override {
    Frame f = std::move(stack.back());
    stack.pop_back();
    if (f.keys == 1 && f.link) links.push_back(std::move(*f.link));
    return true;
  }
  bool start_array(std::size_t) override {
    Value(nullptr);
    stack.emplace_back();
    return true;
  }
  bool end_array() override {
    stack.pop_back();
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& ex) override {
    error = "byte " + std::to_string(pos) + ": " + ex.what();
    return false;
  }
};

}  // namespace

Result<std::vector<Cid>> DagLinks(const Cid& cid, ByteView data) {
  if (cid.codec() == codec::kDagPb) {
    IPFSKIT_ASSIGN_OR_RETURN(PbNode n, DecodePbNode(data));
    std::vector<Cid> out;
    out.reserve(n.links.size());
    for (auto& l : n.links) out.push_back(std::move(l.hash));
    return out;
  }
  if (cid.codec() == codec::kDagCbor) return DagCborLinks(data);
  if (cid.codec() != codec::kDagJson) return std::vector<Cid>{};  // raw and others: leaves
  DagJsonLinkFinder finder;
  bool ok = nlohmann::json::sax_parse(data.begin(), data.end(), &finder);
  if (!ok) return MakeError(Errc::kMalformed, "malformed dag-json block " + cid.ToString() + ": " + finder.error);
  std::vector<Cid> out;
  for (const std::string& s : finder.links) {
    auto c = Cid::Parse(s);
    if (!c.ok())
      return MakeError(Errc::kMalformed, "dag-json block " + cid.ToString() + " has an invalid link: " + c.error().message);
    out.push_back(std::move(*c));
  }
  return out;
}

}  // namespace ipfskit
