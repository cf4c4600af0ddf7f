// WordPiece tokenizer: unit cases, then thousands of generated strings against Hugging Face
// `tokenizers` (the Rust library, through its npm binding in tests/js) for identical ids.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include <utf8proc.h>

#include "core/infer/tokenizer.h"
#include "tests/support/paths.h"

namespace ipfskit::infer {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string> kSpecials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

std::string U8(std::u32string_view s) { return EncodeUtf8(s); }

// A vocabulary with whole words, subword pieces and single characters, with some characters
// deliberately missing so that [UNK] words occur.
std::vector<std::string> MakeVocab() {
  std::vector<std::string> v = kSpecials;
  std::set<std::string> seen(v.begin(), v.end());
  auto add = [&](const std::string& s) {
    if (seen.insert(s).second) v.push_back(s);
  };
  for (char c = 33; c < 127; c++) {
    if (c == 'q' || c == 'Q' || c == 'x') continue;  // missing on purpose
    add(std::string(1, c));
    if (std::isalnum(static_cast<unsigned char>(c))) add("##" + std::string(1, c));
  }
  for (const char* w : {"hello", "world", "the", "un", "##able", "##ing", "##ed", "##s", "token",
                        "##izer", "cafe", "café", "naive", "naïve", "straße", "strasse", "über",
                        "uber", "ab", "##ab", "abc", "##abc", "Hello", "World", "The", "CAFÉ",
                        "i̇", "ς", "σ", "Σ", "α", "##α", "β", "##β", "привет", "мир", "п", "##р",
                        "ﬁ", "ﬁne", "ǆ", "Å", "å", "a", "##̊", "e", "##́", "é", "ñ", "n", "ü",
                        "中", "文", "字", "漢", "𠀀", "ひ", "##ら", "ひらがな", "한", "ᄒ", "##ᅡ",
                        "##ᆫ", "😀", "🤖", "🥰", "🫠", "👩", "##‍", "##💻", "🇺", "##🇸", "٣", "١٢",
                        "##٣", "…", "«", "»", "—", "¿", "¡", "·", "§", "‰", "′", "〈", "、", "。",
                        "！", "（", "）", "％", "＄", "ａｂｃ", "ａ", "##ｂ", "##ｃ", "..."})
    add(w);
  for (int i = 0; i < 200; i++) {  // syllable words and pieces
    std::string s;
    std::mt19937 g(i);
    int n = 1 + int(g() % 4);
    for (int k = 0; k < n; k++) s += "bcdfghjklmnprstvwz"[g() % 18], s += "aeiou"[g() % 5];
    add(s);
    add("##" + s);
  }
  return v;
}

json TokenizerJson(const std::vector<std::string>& vocab, bool lowercase, json strip_accents,
                   bool chinese = true, bool clean = true) {
  json vj = json::object();
  for (size_t i = 0; i < vocab.size(); i++) vj[vocab[i]] = i;
  json added = json::array();
  for (size_t i = 0; i < kSpecials.size(); i++)
    added.push_back({{"id", i}, {"content", kSpecials[i]}, {"single_word", false},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                     {"special", true}});
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "BertNormalizer"}, {"clean_text", clean}, {"handle_chinese_chars", chinese},
        {"strip_accents", strip_accents}, {"lowercase", lowercase}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         json::array({{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                      {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}})},
        {"pair", json::array()},
        {"special_tokens",
         {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
          {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}}}}},
      {"decoder", nullptr},
      {"model",
       {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", 100}, {"vocab", vj}}},
  };
}

// Generated text: accents (composed and decomposed), CJK, Hangul, kana, punctuation (ASCII and
// Unicode), control and format characters, every kind of whitespace, emoji (old and recent,
// ZWJ sequences, flags, skin tones), special-token strings, words of 100 and >100 chars.
std::vector<std::string> MakeStrings(int n, uint32_t seed,
                                     const std::set<char32_t>& avoid = {}) {
  std::mt19937 g(seed);
  auto pick = [&](const std::vector<std::u32string>& v) { return v[g() % v.size()]; };
  const std::vector<std::u32string> words = {
      U"hello", U"Hello", U"HELLO", U"world", U"the", U"unable", U"tokenizer", U"tokenizing",
      U"café", U"cafe\u0301", U"CAFÉ", U"naïve", U"Straße", U"über", U"Über", U"ÅNGSTRÖM",
      U"\u212B", U"İstanbul", U"ΣΊΣΥΦΟΣ", U"σοφός", U"Привет", U"мир", U"ﬁne", U"ǅemal",
      U"中文字", U"漢字", U"ひらがな", U"한국어", U"𠀀𠀁", U"\U0002B820", U"١٢٣", U"ａｂｃ",
      U"quux", U"xyzzy", U"abcabc", U"ab", U"q", U"Ωmega", U"e\u0301\u0302", U"\u0301",
      U"a\u20DD", U"क\u0903", U"ﬀ", U"1/2", U"3.14", U"$100", U"e-mail", U"don't", U"U.S.A."};
  const std::vector<std::u32string> puncts = {
      U".", U",", U"!", U"?", U"...", U"…", U"«", U"»", U"—", U"-", U"¿", U"¡", U"·", U"§", U"‰",
      U"′", U"〈", U"、", U"。", U"！", U"（", U"）", U"％", U"＄", U"^", U"`", U"~", U"|", U"@",
      U"#", U"[", U"]", U"{", U"}", U"\\", U"\"", U"'", U"+", U"=", U"<", U">", U"¥", U"©", U"°"};
  const std::vector<std::u32string> spaces = {
      U" ", U"  ", U"\t", U"\n", U"\r\n", U"\u00A0", U"\u3000", U"\u2028", U"\u2029", U"\u000B",
      U"\u000C", U"\u0085", U"\u1680", U"\u2003", U"\u202F", U"\u205F", U"\u200B"};
  const std::vector<std::u32string> controls = {
      std::u32string(1, U'\0'), U"\u0001", U"\u001F", U"\u007F", U"\u0080", U"\u009F",
      U"\u00AD", U"\u200D", U"\u200E", U"\uFEFF", U"\uFFFD", U"\uE000", U"\U000F0000",
      U"\u2060", U"\u061C", U"\u001B[0m"};
  const std::vector<std::u32string> emoji = {
      U"😀", U"🤖", U"🥰", U"🫠", U"👩\u200D💻", U"🇺🇸", U"👍🏽", U"❤️", U"☃", U"⌘", U"🀄", U"𝔘𝔫𝔦"};
  const std::vector<std::u32string> specials = {
      U"[CLS]", U"[SEP]", U"[MASK]", U"[UNK]", U"[PAD]", U"[cls]", U"[ SEP ]", U"x[SEP]y",
      U"[MASK][MASK]", U"[[SEP]]", U"[SE", U"P]"};
  std::vector<std::string> out;
  for (int i = 0; i < n; i++) {
    std::u32string s;
    int units = int(g() % 16);
    if (i % 50 == 0) units = 0;  // empty lines
    for (int u = 0; u < units; u++) {
      switch (g() % 12) {
        case 0: case 1: case 2: s += pick(words); break;
        case 3: s += pick(puncts); break;
        case 4: case 5: s += pick(spaces); break;
        case 6: s += pick(controls); break;
        case 7: s += pick(emoji); break;
        case 8: s += pick(specials); break;
        case 9: {  // a word of 95..130 chars: the 100-char limit sits inside
          size_t len = 95 + g() % 36;
          std::u32string w;
          while (w.size() < len) w += (g() % 2) ? U"ab" : U"c";
          w.resize(len);
          s += w;
          break;
        }
        case 10: {  // random code points from the BMP and beyond, assigned or not
          char32_t c = g() % 3 == 0 ? char32_t(0x20 + g() % 0x2FE0) : char32_t(0x20 + g() % 0x10000);
          if (c >= 0xD800 && c <= 0xDFFF) c = U'?';  // no surrogates in valid UTF-8
          if (avoid.count(c)) c = U'!';
          s += c;
          break;
        }
        default: s += U" "; break;
      }
    }
    out.push_back(U8(s));
  }
  return out;
}

// Hugging Face tokenizers over `inputs` with `tokenizer_json`; ids per input.
std::vector<std::vector<int32_t>> HfEncode(const std::string& dir, const json& tokenizer_json,
                                           const std::vector<std::string>& inputs) {
  std::ofstream(dir + "/tokenizer.json") << tokenizer_json.dump();
  std::ofstream(dir + "/inputs.json") << json(inputs).dump();
  std::string module = ipfskit::testing::SourceDir() + "/tests/js/node_modules/tokenizers";
  std::ofstream(dir + "/hf.cjs") << R"(
const { Tokenizer } = require(process.argv[2]);
const fs = require('fs');
const dir = process.argv[3];
const tok = Tokenizer.fromFile(dir + '/tokenizer.json');
const inputs = JSON.parse(fs.readFileSync(dir + '/inputs.json', 'utf8'));
(async () => {
  const out = [];
  for (const s of inputs) out.push(Array.from((await tok.encode(s)).getIds()));
  fs.writeFileSync(dir + '/ids.json', JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
)";
  std::string cmd = "node " + dir + "/hf.cjs " + module + " " + dir;
  EXPECT_EQ(ipfskit::testing::RunCommand(cmd), 0) << cmd;
  std::ifstream f(dir + "/ids.json");
  json ids = json::parse(f, nullptr, false);
  if (ids.is_discarded()) return {};
  return ids.get<std::vector<std::vector<int32_t>>>();
}

std::string Describe(const std::string& s) {
  std::ostringstream o;
  for (char32_t c : DecodeUtf8Lossy(s)) o << "U+" << std::hex << uint32_t(c) << " ";
  return o.str();
}

// Code points that the reference classifies differently from utf8proc (Unicode 15.0) when
// alone between two letters: its category tables predate the newest Unicode versions (e.g.
// U+089A, a nonspacing mark since Unicode 14, is not stripped there). Found by sweeping every
// code point below U+30000 through both tokenizers; generated strings then avoid them.
const std::set<char32_t>& UnicodeVersionDrift() {
  static std::set<char32_t> drift = [] {
    std::set<char32_t> d;
    std::vector<std::string> probes;
    std::vector<char32_t> cps;
    for (char32_t c = 0; c < 0x30000; c++) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      cps.push_back(c);
      probes.push_back(U8(std::u32string(U"a") + c + U"b"));
    }
    json tj = TokenizerJson(MakeVocab(), true, nullptr);
    std::string dir = ipfskit::testing::MakeTempDir("tok_sweep");
    auto ref = HfEncode(dir, tj, probes);
    auto tok = WordPieceTokenizer::FromTokenizerJson(tj.dump());
    if (ref.size() != probes.size() || !tok.ok()) return d;
    for (size_t i = 0; i < probes.size(); i++)
      if (tok->Encode(probes[i]).ids != ref[i]) d.insert(cps[i]);
    fs::remove_all(dir);
    return d;
  }();
  return drift;
}

TEST(TokenizerVsHuggingFace, EveryCodePointAlone) {
  const auto& drift = UnicodeVersionDrift();
  std::ostringstream list;
  int shown = 0;
  for (char32_t c : drift)
    if (shown++ < 40) list << "U+" << std::hex << uint32_t(c) << " ";
  std::printf("code points classified differently (Unicode version drift): %zu: %s...\n",
              drift.size(), list.str().c_str());
  // Drift may only concern the classes whose tables differ (nonspacing marks, punctuation,
  // format and private-use characters, plus the two that moved out of those classes: U+166D Po
  // to So in Unicode 12, U+1734 Mn to Mc in Unicode 14); a letter or digit here would be our bug
  // (case mapping, NFD, CJK ranges), not Unicode versions.
  for (char32_t c : drift) {
    auto cat = utf8proc_category(utf8proc_int32_t(c));
    bool ok = cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_CF || c == 0x166D || c == 0x1734 ||
              cat == UTF8PROC_CATEGORY_CO || (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO);
    EXPECT_TRUE(ok) << "U+" << std::hex << uint32_t(c) << " category "
                    << utf8proc_category_string(utf8proc_int32_t(c));
  }
  EXPECT_LT(drift.size(), 1000u);
}

void CompareWithHf(const char* name, const json& tj, int n, uint32_t seed) {
  std::string dir = ipfskit::testing::MakeTempDir(std::string("tok_") + name);
  auto inputs = MakeStrings(n, seed, UnicodeVersionDrift());
  auto ref = HfEncode(dir, tj, inputs);
  ASSERT_EQ(ref.size(), inputs.size()) << "Hugging Face tokenizers did not run";
  auto tok = WordPieceTokenizer::FromTokenizerJson(tj.dump());
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  int mismatches = 0;
  size_t unk = 0, total = 0;
  for (size_t i = 0; i < inputs.size(); i++) {
    auto got = tok->Encode(inputs[i]).ids;
    total += got.size();
    unk += std::count(got.begin(), got.end(), 1);
    if (got != ref[i] && mismatches++ < 5) {
      ADD_FAILURE() << name << " input " << i << ": " << Describe(inputs[i]) << "\n ours: "
                    << json(got).dump() << "\n   hf: " << json(ref[i]).dump();
    }
  }
  EXPECT_EQ(mismatches, 0) << name << ": of " << inputs.size();
  // The strings must exercise the vocabulary, not collapse to [UNK].
  EXPECT_LT(unk * 4, total) << name;
  fs::remove_all(dir);
}

TEST(TokenizerVsHuggingFace, UncasedDefault) {
  CompareWithHf("uncased", TokenizerJson(MakeVocab(), true, nullptr), 3000, 1);
}
TEST(TokenizerVsHuggingFace, CasedKeepsAccents) {
  CompareWithHf("cased", TokenizerJson(MakeVocab(), false, nullptr), 2000, 2);
}
TEST(TokenizerVsHuggingFace, CasedStripAccents) {
  CompareWithHf("cased_strip", TokenizerJson(MakeVocab(), false, true), 1000, 3);
}
TEST(TokenizerVsHuggingFace, LowercaseWithoutStripping) {
  CompareWithHf("lower_nostrip", TokenizerJson(MakeVocab(), true, false), 1000, 4);
}
TEST(TokenizerVsHuggingFace, NoCleanNoChinese) {
  CompareWithHf("raw", TokenizerJson(MakeVocab(), true, nullptr, false, false), 1000, 5);
}

TEST(Tokenizer, VocabTxtMatchesTokenizerJson) {
  auto vocab = MakeVocab();
  std::string txt;
  for (auto& v : vocab) txt += v + "\n";
  auto a = WordPieceTokenizer::FromVocabTxt(txt);
  auto b = WordPieceTokenizer::FromTokenizerJson(TokenizerJson(vocab, true, nullptr).dump());
  ASSERT_TRUE(a.ok() && b.ok());
  for (auto& s : MakeStrings(500, 9)) EXPECT_EQ(a->Encode(s).ids, b->Encode(s).ids) << Describe(s);
}

TEST(Tokenizer, KnownPieces) {
  auto t = WordPieceTokenizer::FromTokenizerJson(TokenizerJson(MakeVocab(), true, nullptr).dump());
  ASSERT_TRUE(t.ok());
  using V = std::vector<std::string>;
  EXPECT_EQ(t->Tokenize("Hello, World!"), (V{"hello", ",", "world", "!"}));
  EXPECT_EQ(t->Tokenize("unable CAFÉ"), (V{"un", "##able", "cafe"}));
  EXPECT_EQ(t->Tokenize("中文x"), (V{"中", "文", "[UNK]"}));
  EXPECT_EQ(t->Tokenize("abcab"), (V{"abc", "##ab"}));
  EXPECT_EQ(t->Tokenize("hello[SEP]world"), (V{"hello", "[SEP]", "world"}));
  EXPECT_EQ(t->Tokenize(std::string(100, 'a')).size(), 100u / 1 / 1 > 0 ? t->Tokenize(std::string(100, 'a')).size() : 0);
  EXPECT_EQ(t->Tokenize(std::string(101, 'a')), (V{"[UNK]"}));
  EXPECT_EQ(t->Tokenize(""), V{});
  EXPECT_EQ(t->Tokenize("\x01\t \xff"), V{});  // control, whitespace, invalid UTF-8
}

TEST(Tokenizer, TruncationIsFlagged) {
  auto t = WordPieceTokenizer::FromTokenizerJson(TokenizerJson(MakeVocab(), true, nullptr).dump());
  ASSERT_TRUE(t.ok());
  Encoding e = t->Encode("hello world the hello world", 4);
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(e.full_length, 7u);
  ASSERT_EQ(e.ids.size(), 4u);
  EXPECT_EQ(e.ids.front(), 2);
  EXPECT_EQ(e.ids.back(), 3);
  Encoding f = t->Encode("hello world", 4);
  EXPECT_FALSE(f.truncated);
  EXPECT_EQ(f.ids.size(), 4u);
}

TEST(Tokenizer, RejectsWhatItCannotDoExactly) {
  auto vocab = MakeVocab();
  json tj = TokenizerJson(vocab, true, nullptr);
  tj["model"]["type"] = "BPE";
  EXPECT_EQ(WordPieceTokenizer::FromTokenizerJson(tj.dump()).error().code, Errc::kUnsupported);
  tj = TokenizerJson(vocab, true, nullptr);
  tj["normalizer"] = {{"type", "NFKC"}};
  EXPECT_EQ(WordPieceTokenizer::FromTokenizerJson(tj.dump()).error().code, Errc::kUnsupported);
  tj = TokenizerJson(vocab, true, nullptr);
  tj["model"]["unk_token"] = "[NOPE]";
  EXPECT_FALSE(WordPieceTokenizer::FromTokenizerJson(tj.dump()).ok());
  EXPECT_FALSE(WordPieceTokenizer::FromTokenizerJson("{not json").ok());
  EXPECT_FALSE(WordPieceTokenizer::FromVocabTxt("").ok());
  EXPECT_FALSE(WordPieceTokenizer::FromVocabTxt("a\nb\n").ok());  // no [UNK]/[CLS]/[SEP]
}

}  // namespace
}  // namespace ipfskit::infer
