#include "executors/image/registry/challenge.h"

#include "absl/strings/ascii.h"

namespace converge::registry {
namespace {

// Reads challenges left to right: a token followed by '=' is a parameter of
// the current challenge, any other token starts a new challenge.
class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  std::vector<Challenge> Parse() {
    std::vector<Challenge> challenges;
    while (true) {
      SkipSpaceAndCommas();
      if (AtEnd()) break;
      std::string token = Token();
      if (token.empty()) {
        ++pos_;  // a stray character: skip it rather than loop
        continue;
      }
      SkipSpace();
      if (!AtEnd() && text_[pos_] == '=' && !challenges.empty()) {
        ++pos_;
        SkipSpace();
        challenges.back().params[absl::AsciiStrToLower(token)] = Value();
      } else {
        challenges.push_back(Challenge{absl::AsciiStrToLower(token), {}});
      }
    }
    return challenges;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  void SkipSpace() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  void SkipSpaceAndCommas() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == ',')) ++pos_;
  }
  std::string Token() {
    size_t start = pos_;
    while (!AtEnd() && text_[pos_] != ' ' && text_[pos_] != '\t' && text_[pos_] != ',' &&
           text_[pos_] != '=' && text_[pos_] != '"') {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }
  // A quoted string (with backslash escapes) or a bare token.
  std::string Value() {
    if (AtEnd() || text_[pos_] != '"') return Token();
    std::string value;
    for (++pos_; !AtEnd() && text_[pos_] != '"'; ++pos_) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      value.push_back(text_[pos_]);
    }
    ++pos_;  // the closing quote
    return value;
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<Challenge> ParseChallenges(absl::string_view header) { return Parser(header).Parse(); }

}  // namespace converge::registry
