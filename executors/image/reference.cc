#include "executors/image/reference.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace converge {
namespace {

// distribution/reference's NameTotalLengthMax.
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;
constexpr char kLegacyDockerHubDomain[] = "index.docker.io";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsWordChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }
bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!IsLowerAlnum(c) || c > 'f') return false;
  }
  return true;
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | -+
bool IsValidPathComponent(absl::string_view component) {
  size_t i = 0;
  while (true) {
    size_t run = i;
    while (i < component.size() && IsLowerAlnum(component[i])) ++i;
    if (i == run) return false;  // empty, or a separator not between alphanumerics
    if (i == component.size()) return true;
    if (component[i] == '.') {
      ++i;
    } else if (component[i] == '_') {
      i += absl::StartsWith(component.substr(i), "__") ? 2 : 1;
    } else if (component[i] == '-') {
      while (i < component.size() && component[i] == '-') ++i;
    } else {
      return false;
    }
  }
}

// tag := [\w][\w.-]{0,127}
bool IsValidTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength || !IsWordChar(tag[0])) return false;
  for (char c : tag) {
    if (!IsWordChar(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsValidHostLabel(absl::string_view label) {
  if (label.empty() || label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!absl::ascii_isalnum(c) && c != '-') return false;
  }
  return true;
}

// docker's splitDockerDomain: the first component names a registry only if it
// looks like a host (a dot, a port, "localhost", or upper case, which a path
// may not contain); otherwise the whole name is a Docker Hub repository.
std::pair<absl::string_view, absl::string_view> SplitDomain(absl::string_view name) {
  size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return {kDockerHubDomain, name};
  absl::string_view first = name.substr(0, slash);
  if (first.find_first_of(".:") == absl::string_view::npos && first != "localhost" &&
      absl::AsciiStrToLower(first) == first) {
    return {kDockerHubDomain, name};
  }
  return {first, name.substr(slash + 1)};
}

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("image reference \"", text, "\": ", why));
}

}  // namespace

std::string ImageReference::Repository() const { return absl::StrCat(domain, "/", path); }

std::string ImageReference::String() const {
  std::string out = Repository();
  if (!tag.empty()) absl::StrAppend(&out, ":", tag);
  if (!digest.empty()) absl::StrAppend(&out, "@", digest.str());
  return out;
}

bool IsImageId(absl::string_view text) {
  absl::ConsumePrefix(&text, "sha256:");
  return text.size() == 64 && IsLowerHex(text);
}

bool IsValidRegistryHost(absl::string_view host) {
  if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    absl::string_view port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) {
      return false;
    }
    host = host.substr(0, colon);
  }
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (!IsValidHostLabel(label)) return false;
  }
  return true;
}

absl::StatusOr<std::string> ParseRegistryHost(absl::string_view host) {
  if (!IsValidRegistryHost(host)) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry host \"", host, "\": want HOST or HOST:PORT"));
  }
  if (host == kLegacyDockerHubDomain) return std::string(kDockerHubDomain);
  return std::string(host);
}

absl::StatusOr<ImageReference> ParseImageReference(absl::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  if (IsImageId(text)) return Invalid(text, "is an image id, not a reference");

  ImageReference ref;
  absl::string_view name = text;
  if (size_t at = name.find('@'); at != absl::string_view::npos) {
    auto digest = Digest::Parse(name.substr(at + 1));
    if (!digest.ok()) return Invalid(text, digest.status().message());
    ref.digest = *std::move(digest);
    name = name.substr(0, at);
  }
  // A tag follows the last colon after the last slash; earlier colons are ports.
  size_t colon = name.rfind(':');
  size_t slash = name.rfind('/');
  if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon > slash)) {
    ref.tag = std::string(name.substr(colon + 1));
    if (!IsValidTag(ref.tag)) {
      return Invalid(text, "invalid tag (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
    }
    name = name.substr(0, colon);
  }
  if (name.empty()) return Invalid(text, "empty repository name");
  if (name.size() > kMaxNameLength) {
    return Invalid(text,
                   absl::StrCat("repository name longer than ", kMaxNameLength, " characters"));
  }

  auto [domain, path] = SplitDomain(name);
  if (!IsValidRegistryHost(domain)) return Invalid(text, "invalid registry host");
  ref.domain = domain == kLegacyDockerHubDomain ? kDockerHubDomain : std::string(domain);
  for (absl::string_view component : absl::StrSplit(path, '/')) {
    if (IsValidPathComponent(component)) continue;
    if (absl::AsciiStrToLower(component) != component) {
      return Invalid(text, "repository name must be lowercase");
    }
    return Invalid(text, absl::StrCat("invalid repository path component \"", component, "\""));
  }
  // Docker Hub's official images live under library/.
  ref.path = ref.domain == kDockerHubDomain && path.find('/') == absl::string_view::npos
                 ? absl::StrCat("library/", path)
                 : std::string(path);
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace converge
